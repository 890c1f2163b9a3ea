"""Install trdetr_cap: `pip install -e .` (or `bash scripts/setup.sh`, which also picks the right torch)."""
from pathlib import Path

from setuptools import find_packages, setup

here = Path(__file__).parent
requirements = [
    line.strip()
    for line in (here / "requirements.txt").read_text().splitlines()
    if line.strip() and not line.startswith("#")
]

setup(
    name="trdetr_cap",
    version="0.1.0",
    description="TR-DETR with caption-guided cross-modal fusion for video moment retrieval and highlight detection",
    long_description=(here / "README.md").read_text(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["trdetr_cap", "trdetr_cap.*"]),
    install_requires=requirements,
    entry_points={"console_scripts": ["trdetr-cap = trdetr_cap.cli:main"]},
    extras_require={
        "dev": ["pytest>=7", "ruff>=0.5"],
        "demo": ["gradio>=6,<7"],  # trdetr-cap demo (tested with 6.31)
        "test-browser": ["playwright>=1.40"],  # tests/test_demo_browser.py drives Debian's chromium with it
        "vllm": ["vllm"],
    },
)
