"""The package's public names resolve, and importing it (as the CLI does) does not import torch."""

import subprocess
import sys

import workbench.crnn as crnn


def test_every_public_name_resolves():
    for name in crnn.__all__:
        assert getattr(crnn, name) is not None, name
    assert "Recognizer" in dir(crnn)


def test_cli_discovery_does_not_import_torch():
    code = "import sys, workbench.cli; workbench.cli.build_parser(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", "building the CLI imported torch; keep heavy imports inside handlers"
