"""genbench/models/base.py: the interface every family of conf/model shares (the
FLOP count of a step, declared figures). The contract every family passes:
tests/test_contract.py; each family's own maths: test_gan.py, test_vae.py,
test_rbm.py."""

from __future__ import annotations

import jax.random as jr
import numpy as np
import pytest

from genbench.models import GAN, RBM, VAE


def _families_of_conf() -> list:
    """One object per family of conf/model (presets left out), built from its
    composed config's values."""
    from hydra.utils import instantiate

    from .conftest import MODELS, compose_cfg

    return [instantiate(compose_cfg(f"model={m}").model) for m in MODELS]


@pytest.mark.parametrize("family", _families_of_conf(), ids=lambda f: f.name)
def test_step_flops_are_finite_and_grow_linearly_with_batch_and_width(family):
    # XLA's count of one step (the benchmark's MFLOP/step column)
    base = family.step_flops(1, 64, 64)
    assert np.isfinite(base) and base >= 2 * 64 * 64  # at least one layer's matmul
    # four times the batch or the width: close to four times the work (the
    # parts that depend on only one of them make it a little less)
    for ratio in (
        family.step_flops(1, 64, 256) / base,
        family.step_flops(1, 256, 64) / base,
    ):
        assert 3.0 < ratio <= 4.0 * 1.01, ratio


def test_a_family_declares_its_own_figures(tmp_path):
    from genbench.encoding import make_encoding
    from genbench.targets import Mixture1D

    encoding = make_encoding(Mixture1D("t", [-1.0, 1.0], [0.5, 0.5]), 0, "hard")
    nets = VAE().build(jr.key(0), 1, 8)
    draws = VAE().figures(nets, encoding)
    assert list(draws) == ["latent_manifold.png"]
    meta = dict(model="vae", target="t", budget=1, hidden=8, n_params=1, seeds=[0])
    draws["latent_manifold.png"](tmp_path / "m.png", meta)
    assert (tmp_path / "m.png").read_bytes()[:4] == b"\x89PNG"
    assert VAE(latent_dim=3).figures(nets, encoding) == {}
    assert GAN().figures(None, encoding) == {} and RBM().figures(None, encoding) == {}


def test_families_are_abstract_or_final():
    """Equinox's rule: the abstract class has no fields, its concrete methods
    are not overridden, and a family declares the fields genbench sets."""
    import dataclasses
    import inspect

    from genbench.models.base import SUPPLIED_FIELDS, AbstractFamily

    assert dataclasses.fields(AbstractFamily) == ()
    concrete = {
        name
        for name, member in vars(AbstractFamily).items()
        if (inspect.isfunction(member) or isinstance(member, property))
        and not getattr(member, "__isabstractmethod__", False)
        and not name.startswith("__")
    }
    assert {"output_kind", "step_flops", "params"} <= concrete
    for family in _families_of_conf():
        overridden = {n for n in concrete if n in vars(type(family))}
        assert not overridden, f"{family.name} overrides {overridden}"
        names = {f.name for f in dataclasses.fields(family)}
        assert set(SUPPLIED_FIELDS) <= names

    # a family that leaves out a field genbench sets is refused when built
    fields = [f for f in dataclasses.fields(GAN) if f.name != "n_steps"]
    Lacking = dataclasses.make_dataclass(
        "Lacking",
        [(f.name, f.type, dataclasses.field(default=f.default)) for f in fields],
        bases=(AbstractFamily,),
        frozen=True,
        namespace={
            m: getattr(GAN, m) for m in ("build", "init", "step", "sample", "figures")
        }
        | {"sampler_part": GAN.sampler_part},
    )
    with pytest.raises(TypeError, match="lacks the field.*n_steps"):
        Lacking()
