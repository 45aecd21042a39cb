"""A built wheel installs one name, `workflows`, beside a project that has its own `services/`.

The wheel is built from this checkout (`pip wheel --no-deps`), unpacked with `pip install
--no-deps --target` (the dependencies are this venv's), and imported from inside a user
project whose own `services` and `contracts` packages must win for `import services`.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.e2e

CHECK = textwrap.dedent(
    """
    import contracts
    import services
    import workflows
    from workflows import Workflows
    from workflows.contracts import StepCommand
    from workflows.services.core.definition import WorkflowDefinition
    from workflows.services.trigger.app import create_app
    import workflows.testing.apache_kafka

    print(services.WHO, contracts.WHO)
    print(workflows.__file__)
    print(WorkflowDefinition.__module__, StepCommand.__module__, create_app.__module__)
    """
)


def test_the_wheel_installs_beside_a_project_with_its_own_services(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(ROOT)],
        check=True,
        timeout=300,
    )
    (wheel,) = wheels.glob("workflows_engine-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names} == {
        "workflows",
        f"{wheel.name.split('-py3')[0]}.dist-info",
    }
    assert "workflows/py.typed" in names
    assert "workflows/services/trigger/dashboard/index.html" in names
    assert "workflows/contracts/schemas/step-command.schema.json" in names

    site = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(site),
            str(wheel),
        ],
        check=True,
        timeout=300,
    )
    project = tmp_path / "project"
    for own in ("services", "contracts"):
        (project / own).mkdir(parents=True)
        (project / own / "__init__.py").write_text(f'WHO = "the project\'s own {own}"\n')
    done = subprocess.run(
        [sys.executable, "-c", CHECK],
        cwd=project,
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "the project's own services the project's own contracts"
    assert lines[1] == str(site / "workflows" / "__init__.py")
    assert lines[2].split() == [
        "workflows.services.core.definition",
        "workflows.contracts.steps",
        "workflows.services.trigger.app",
    ]


def test_the_folders_do_not_import_under_their_own_names() -> None:
    done = subprocess.run(
        [sys.executable, "-c", "import services"], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 1
    assert "ImportError: import workflows.services, not services" in done.stderr
