"""Gradio app: Grad-CAM on a chest X-ray classifier, with every cams backend and method.

    python demo.py [--model PATH] [--port N] [--host ADDRESS]

The default model was trained on synthetic X-rays: it demonstrates the method and is not for
diagnosis. This file is the Hugging Face Space's entry point; the app lives in cams/app/.
"""
import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_MODEL = os.path.join(HERE, "models", "xray_phantoms.keras")
EXAMPLES_DIR = os.path.join(HERE, "models", "examples")


def parse(argv=None):
    """The command line, parsed before TensorFlow or Gradio load (so --help is instant)."""
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog="Environment: MODEL_PATH (default model), GRADIO_SERVER_NAME (host), "
               "GRADIO_SERVER_PORT (port). Analytics are off and no browser is opened.")
    parser.add_argument("--model", default=os.environ.get("MODEL_PATH", DEFAULT_MODEL),
                        help="a .keras file with its NAME.json card beside it "
                             "(default: $MODEL_PATH or the shipped phantom model)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)),
                        help="port (default: $GRADIO_SERVER_PORT or 7860)")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
                        help="address to serve on (default: $GRADIO_SERVER_NAME or 127.0.0.1)")
    return parser, parser.parse_args(argv)


def main(argv=None):
    parser, args = parse(argv)
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from cams.app import handlers, page

    try:
        app = handlers.App(args.model, EXAMPLES_DIR)
    except (FileNotFoundError, ValueError) as err:
        parser.exit(2, f"error: cannot load the model: {err}\n")
    print("Warming up every backend…", flush=True)
    app.warm_up()
    page.build(app).queue(default_concurrency_limit=2).launch(
        server_name=args.host, server_port=args.port, inbrowser=False,
        max_file_size=page.MAX_FILE_SIZE, show_error=True)


if __name__ == "__main__":
    sys.exit(main())
