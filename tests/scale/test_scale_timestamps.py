"""Timestamps of the common log formats, and your own."""

from __future__ import annotations

import calendar

import pytest

from logreasoner.errors import ConfigError
from logreasoner.scale.timestamps import TimestampParser


def utc(*t):
    return calendar.timegm((*t, 0, 0, 0))


@pytest.mark.parametrize("line,expected", [
    ("2015-07-29 17:41:44,747 - INFO  [QuorumPeer[myid=1]", utc(2015, 7, 29, 17, 41, 44) + 0.747),
    ("2016-09-28T04:30:30Z Info CBS Loaded", utc(2016, 9, 28, 4, 30, 30)),
    ("- 1117838570 2005.06.03 R02-M1-N0-C:J12-U11 2005-06-03-15.42.50.675872 R02", utc(2005, 6, 3, 15, 42, 50) + 0.675872),
    ("20171223-22:16:0:119|Step_LSC|30002312|x", utc(2017, 12, 23, 22, 16, 0) + 0.119),
    ("081109 203615 148 INFO dfs.DataNode$PacketResponder: x", utc(2008, 11, 9, 20, 36, 15)),
    ("17/06/09 20:10:40 INFO executor.CoarseGrainedExecutorBackend", utc(2017, 6, 9, 20, 10, 40)),
    ("[Sun Dec 04 04:47:44 2005] [notice] workerEnv.init() ok", utc(2005, 12, 4, 4, 47, 44)),
    ("Dec 10 06:55:46 LabSZ sshd[24200]: reverse mapping", utc(2000, 12, 10, 6, 55, 46)),
    ("03-17 16:13:38.811  1702  2395 D WindowManager", utc(2000, 3, 17, 16, 13, 38) + 0.811),
    ("134681 node-246 unix.hw state_change.unavailable 1077804742 1 Component", 1077804742.0),
    ("no time here at all", None),
])
def test_builtin_formats(line, expected):
    got = TimestampParser().parse(line)
    assert got == pytest.approx(expected) if expected is not None else got is None


def test_custom_regex_named_groups_and_strptime():
    p = TimestampParser(r"\[(?P<d>\d{2})/(?P<b>\w{3})/(?P<Y>\d{4}):(?P<H>\d{2}):(?P<M>\d{2}):(?P<S>\d{2})")
    assert p.parse('1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET /"') == utc(2000, 10, 10, 13, 55, 36)
    q = TimestampParser(r"at (\S+ \S+)", "%d.%m.%Y %H:%M")
    assert q.parse("job done at 05.03.2021 07:08") == utc(2021, 3, 5, 7, 8, 0)
    assert q.parse("job done at 99.99.2021 07:08") is None


def test_bad_custom_regex_says_what_to_do():
    with pytest.raises(ConfigError):
        TimestampParser(r"(\d+")
    with pytest.raises(ConfigError):
        TimestampParser(r"\d+-\d+")  # neither named groups nor a format
    with pytest.raises(ConfigError):
        TimestampParser(None, "%Y")
