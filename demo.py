"""Gradio app: Grad-CAM on a chest X-ray classifier, with every cams backend and method.

    python demo.py [--model PATH] [--port N] [--host ADDRESS] [--concurrency N]
                   [--max-queue N] [--temp-dir-mb MB] [--temp-grace-s S]

The default model was trained on synthetic X-rays: it demonstrates the method and is not for
diagnosis. This file is the Hugging Face Space's entry point; the app lives in cams/app/ and
how it is served (queue, temporary files, log) in cams/app/serving.py.
"""
import argparse
import os
import signal
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_MODEL = os.path.join(HERE, "models", "xray_phantoms.keras")
EXAMPLES_DIR = os.path.join(HERE, "models", "examples")
EPILOG = """\
environment (besides each option's variable above):
  GRADIO_TEMP_DIR       the folder in which the app makes its own temporary folder
                        (default: the system's, e.g. /tmp)
  TF_CPP_MIN_LOG_LEVEL  TensorFlow's C++ log level (default here: 2, errors only); on a
                        machine without a GPU, CUDA's "no driver" start-up lines are dropped

The heavier requests (Compare backends, Layer sweep, ImageNet and the like) share one slot of
their own, one at a time. A request that finds the queue full is told the app is busy and to
try again. Analytics are off, no browser is opened, and the log never names an upload."""


def count(text):
    """An argparse type: a whole number >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def megabytes(text):
    """An argparse type: a positive number of megabytes."""
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {text}")
    return value


def seconds(text):
    """An argparse type: a number of seconds >= 0."""
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def parse(argv=None):
    """The command line, parsed before TensorFlow or Gradio load (so --help is instant)."""
    from cams.app import serving  # light: the serving defaults

    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)

    def option(flag, variable, default, text, **kwargs):
        parser.add_argument(flag, default=os.environ.get(variable, str(default)),
                            help=f"{text} (default: ${variable} or %(shown)s)" % {
                                "shown": kwargs.pop("shown", default)}, **kwargs)

    option("--model", "MODEL_PATH", DEFAULT_MODEL, "a .keras file with its NAME.json card "
           "beside it", shown="the shipped phantom model")
    option("--port", "GRADIO_SERVER_PORT", 7860, "port", type=int)
    option("--host", "GRADIO_SERVER_NAME", "127.0.0.1", "address to serve on")
    option("--concurrency", "CAMS_CONCURRENCY", serving.EXPLAIN_LIMIT, "Explain requests "
           "computed at once, one per core", type=count, metavar="N")
    option("--max-queue", "CAMS_MAX_QUEUE", serving.MAX_QUEUE, "requests that may wait for a "
           "slot; more are told the app is busy", type=count, metavar="N")
    option("--temp-dir-mb", "CAMS_TEMP_DIR_MB", serving.TEMP_MB, "uploads and outputs kept on "
           "disk, the oldest removed first; files older than an hour go anyway and the folder "
           "is removed at exit", type=megabytes, metavar="MB")
    option("--temp-grace-s", "CAMS_TEMP_GRACE_S", serving.GRACE_SECONDS, "a file newer than "
           "this is never removed for size: its request may still be waiting or downloading",
           type=seconds, metavar="S")
    return parser, parser.parse_args(argv)


def build(args, parser, log):
    """The page over the loaded, warmed-up model, its ImageNet tab told whether it can run."""
    from cams.app import serving

    weights = serving.Background(serving.check_vgg16_weights)  # while TensorFlow loads
    log.info(serving.quiet_tensorflow())
    from cams.app import handlers, page
    from cams.app.imagenet import ImageNetDemo

    try:
        app = handlers.App(args.model, EXAMPLES_DIR)
    except (FileNotFoundError, ValueError) as err:
        parser.exit(2, f"error: cannot load the model: {err}\n")
    log.info("Warming up every backend…")
    app.warm_up()
    serving.log_gradio_errors()
    serving.write_output_images()
    vgg16 = weights.result(timeout=serving.VGG16_CHECK_SECONDS + 1) or serving.Weights(
        None, "It needs the network to fetch its weights (not checked in time at start-up).")
    log.info(vgg16.sentence)
    imagenet = ImageNetDemo()
    if vgg16.available is False:
        imagenet.failure = vgg16.sentence  # the tab says so at once instead of trying
    return page.build(app, imagenet, imagenet_note=vgg16.sentence)


def main(argv=None):
    parser, args = parse(argv)
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from cams.app import serving  # light: neither TensorFlow nor Gradio yet

    log = serving.setup_logging()
    temp = serving.TempFiles(args.temp_dir_mb * 2**20, grace=args.temp_grace_s)  # before Gradio
    previous = serving.stop_on_sigterm()
    try:
        blocks = build(args, parser, log)
        temp.keep_present()  # the examples the page links to
        temp.start()
        log.info("Temporary files: a folder of their own in %s, at most %g MB, removed at "
                 "exit.", os.path.dirname(temp.path), args.temp_dir_mb)
        from cams.app.page import MAX_FILE_SIZE

        blocks.queue(default_concurrency_limit=args.concurrency, max_size=args.max_queue).launch(
            server_name=args.host, server_port=args.port, inbrowser=False,
            max_file_size=MAX_FILE_SIZE, show_error=True)
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM before the server ran
        pass
    finally:
        temp.remove()
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
