"""The ``symlie`` command: ``symlie demo`` and ``symlie bench PROGRAM [options]``.

A benchmark program's module (and whatever it imports) is loaded only when that program runs, so a heavy or broken
program never slows down or breaks ``symlie demo``.

Examples
--------
>>> args = parse_args(["bench", "enforce", "--cases", "so3-t1-t1", "--no-naive"])
>>> args.command, args.program, args.cases, args.no_naive
('bench', 'enforce', [['so3-t1-t1']], True)
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import bench
from ._errors import SymlieError

__all__ = ["bench_main", "build_parser", "main", "parse_args"]


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose help can list the benchmark programs' summaries (their modules load only then)."""

    list_programs = False

    def format_help(self) -> str:
        text = super().format_help()
        if not self.list_programs:
            return text
        lines = []
        for name in sorted(bench.PROGRAMS):
            try:
                summary = bench.load(name).SUMMARY
            except Exception as exc:  # a broken program must not hide the others
                summary = f"(unavailable: {type(exc).__name__}: {exc})"
            lines.append(f"  {name:<12}{summary}")
        return text + "\nprograms:\n" + "\n".join(lines) + "\n"


def _add_program_choice(parser: argparse.ArgumentParser, prog: str) -> None:
    if isinstance(parser, _Parser):
        parser.list_programs = True
    names = sorted(bench.PROGRAMS)
    parser.add_argument("program", choices=names, metavar="PROGRAM", help=f"one of: {', '.join(names)}")
    parser.add_argument("options", nargs=argparse.REMAINDER, help=f"the program's options, see `{prog} PROGRAM --help`")


def _program_parser(name: str, prog: str) -> argparse.ArgumentParser:
    """The parser of one benchmark program, with the options its module declares."""
    module = bench.load(name)
    parser = argparse.ArgumentParser(
        prog=f"{prog} {name}", description=module.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    module.add_arguments(parser)
    return parser


def build_parser(prog: str = "symlie") -> argparse.ArgumentParser:
    """Parser of the ``symlie`` command (a benchmark program's own options are parsed by :func:`parse_args`)."""
    from . import __version__

    parser = _Parser(prog=prog, description="symlie: enforce, discover and promote symmetry with the Lie derivative.")
    parser.add_argument("--version", action="version", version=f"symlie {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=_Parser)
    demo = commands.add_parser("demo", help="a short showcase of exact equivariant maps with certificates")
    demo.add_argument(
        "--section",
        action="append",
        metavar="WORD",
        help="only the sections whose title contains WORD (case-insensitive; repeatable)",
    )
    _add_program_choice(
        commands.add_parser("bench", help="run a benchmark program and write its JSON"), prog + " bench"
    )
    return parser


def parse_args(argv: Sequence[str] | None = None, *, prog: str = "symlie") -> argparse.Namespace:
    """Parse a ``symlie`` command line, including the chosen benchmark program's options."""
    args = build_parser(prog).parse_args(argv)
    if args.command != "bench":
        return args
    options = _program_parser(args.program, f"{prog} bench").parse_args(args.options)
    options.command, options.program = "bench", args.program
    return options


def _run(args: argparse.Namespace, prog: str) -> int:
    try:
        if args.command == "demo":
            from ._demo import run_demo, select_sections

            select_sections(args.section, name="argument --section")
            run_demo(select=args.section)
            return 0
        return int(bench.load(args.program).main(args))
    except SymlieError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``symlie``; returns the exit code (argparse exits with 2 on bad arguments)."""
    return _run(parse_args(argv), "symlie")


def bench_main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m symlie.bench PROGRAM [options]``."""
    prog = "python -m symlie.bench"
    parser = _Parser(prog=prog, description="Run a symlie benchmark program.")
    _add_program_choice(parser, prog)
    first = parser.parse_args(argv)
    args = _program_parser(first.program, prog).parse_args(first.options)
    args.command, args.program = "bench", first.program
    return _run(args, prog)
