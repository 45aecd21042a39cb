"""Example function implementations for the template catalog (services/catalog/templates)."""
