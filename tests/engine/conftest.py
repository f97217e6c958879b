import pytest

from engine import compose


@pytest.fixture(scope="session")
def small_cfg():
    return compose(
        [
            "engine.n_paths=4096",
            "engine.chains=4",
            "engine.chunk_size=4096",
            "engine.keep_trajectories=4096",
            "engine.progress=false",
        ]
    )


@pytest.fixture(scope="session")
def small_result(small_cfg):
    from engine import simulate

    return simulate(small_cfg)
