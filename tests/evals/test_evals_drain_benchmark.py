"""The Drain3 baseline against the published Loghub-2k figures (all 12 systems: slow)."""

import pytest

from logreasoner.evals import metrics as M
from logreasoner.evals.baselines import drain_parse
from logreasoner.evals.bundle import LOGHUB_SYSTEMS
from logreasoner.evals.paths import bundled_data_dir
from logreasoner.evals.sources import read_loghub_system

PUBLISHED = {"HDFS": 0.998, "Hadoop": 0.948, "Spark": 0.920, "Zookeeper": 0.967, "BGL": 0.963, "HPC": 0.887,
             "Thunderbird": 0.955, "Windows": 0.997, "Android": 0.911, "HealthApp": 0.780, "Apache": 1.000,
             "OpenSSH": 0.788}
# the corrected templates move Android's groups (measured -0.081); every other system stays within 0.01
TOLERANCE = {"Android": 0.10}


@pytest.mark.slow
@pytest.mark.parametrize("system", LOGHUB_SYSTEMS)
def test_drain_grouping_accuracy_matches_published(system):
    rows = read_loghub_system(bundled_data_dir() / "loghub-2k", system)
    pred = drain_parse([r["Content"] for r in rows], system)
    ga = M.grouping_accuracy([r["EventTemplate"] for r in rows], pred)
    assert ga == pytest.approx(PUBLISHED[system], abs=TOLERANCE.get(system, 0.01))
