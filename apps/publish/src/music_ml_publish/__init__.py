"""Publishing: SOUSA dataset and models to the Hugging Face Hub, library releases to PyPI."""
