if __name__ != "workflows.services":  # installed once, as workflows.services (README: Layout)
    raise ImportError(f"import workflows.services, not {__name__}")
