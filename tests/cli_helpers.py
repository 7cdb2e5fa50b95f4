"""Running ``rnnkit`` in-process in tests: exit status, output, and the one-line error contract."""

from rnnkit.cli import main


def run(capsys, argv, code=0):
    """``main(argv)`` (a usage error's SystemExit included): its exit status checked; ``(out, err)``."""
    try:
        result = main([str(a) for a in argv])
    except SystemExit as stop:
        result = stop.code
    out, err = capsys.readouterr()
    assert result == code, (out, err)
    return out, err


def one_line_error(capsys, argv, match, code=2):
    """Runs ``argv``, expects exit ``code`` and exactly one stderr line (warnings aside) containing ``match``."""
    _, err = run(capsys, argv, code)
    lines = [line for line in err.strip().splitlines() if ": warning: " not in line]
    assert len(lines) == 1 and match in lines[0] and "Traceback" not in err, err
    return lines[0]
