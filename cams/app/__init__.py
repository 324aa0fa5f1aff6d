"""The Gradio app over a trained classifier (what demo.py serves), split by concern:

    uploads.py   what a person may upload, read and checked, with messages for them
    handlers.py  the loaded model and the work each button does; returns data, no layout
    text.py      the Markdown the page shows, formatted from that data
    imagenet.py  the ImageNet tab's model, loaded on first use
    page.py      the gr.Blocks layout, one function per tab

It uses cams' public API only; nothing in cams imports it. Gradio is needed only here.
"""
