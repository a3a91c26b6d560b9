"""Every benchmark also runs in its small form here, so `make bench` cannot rot."""

import pytest

from tests.perf.__main__ import benchmarks


@pytest.mark.parametrize("bench", benchmarks(), ids=lambda b: b.__name__.rsplit(".", 1)[-1])
def test_benchmark_small_form_runs(lab, bench):
    results = bench.run("small")
    assert results
    for result in results:
        assert result["name"]
        assert result["ours"] > 0 and result["baseline"] > 0
