"""Gradio web demo: hear a drum rudiment from a recording (sousa-rudiments recognition)."""
