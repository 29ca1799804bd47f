

def test_grouper_keeps_repeated_one_token_lines_in_one_group():
    """Drain3 alone opens a new cluster for every repeat of a one-token line."""
    from logreasoner.logs.reader import read_lines
    from logreasoner.logs.templates import group_by_template

    lines = read_lines(text="heartbeat\nheartbeat\nheartbeat\nERROR disk 3 failed\nERROR disk 4 failed\nrestart\n")
    groups = group_by_template(lines)
    assert [(g.template, g.count) for g in groups] == [
        ("heartbeat", 3), ("ERROR disk <NUM> failed", 2), ("restart", 1)]
