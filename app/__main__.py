"""`python -m app`: the process entry point."""
import sys

from app.process import pin_threads

pin_threads()  # before the command's imports: numpy and the model runtimes read these once, at import

from app.commands.cli import main  # noqa: E402

sys.exit(main())
