"""Reading a markdown table's rows out of a README or a report, for the tests that compare the two."""


def table_rows(text: str, header_start: str) -> list[str]:
    """The rows of the markdown table whose header line starts with ``header_start``."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append(line)
    return rows
