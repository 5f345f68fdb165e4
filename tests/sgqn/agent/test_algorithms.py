"""The nine --algo values: the table's numbers, each algorithm's losses against a plain
computation on a fixed batch, which parameters one update moves, checkpoints and acting.

The plain computations draw the same random numbers in the same order as the agent (augment
obs, then next_obs, then the next-action noise, ...) and apply them with their own code.
"""

from __future__ import annotations

import copy
import io

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from sgqn.agent.algorithms import ALGORITHMS, ALGOS
from sgqn.agent.factory import build_agent
from sgqn.agent.interfaces import Batch
from sgqn.agent.sac import SAC
from sgqn.agent.saliency import attribution, saliency_mask
from sgqn.config import Config, ConfigError, check
from sgqn.presets import PRESETS, paper_differences, resolve
from sgqn.train.loop import make_agent
from tests.conftest import SEED
from tests.sgqn.agent.test_agent import GeneratedOverlay

SIZE = 32  # network input of the small test agents
MARGIN = 6  # crop margin of the small rad / soda agents (the paper's is 16: 100 -> 84)
ACTION_DIM = 3
SODA_BATCH = 12


def _cfg(algo: str, **kw) -> Config:
    small = dict(
        num_conv_layers=4,
        num_filters=8,
        projection_dim=16,
        hidden_dim=64,
        image_size=SIZE,
        crop_margin=MARGIN,
        soda_batch_size=SODA_BATCH,
    )
    return Config(algo=algo, **{**small, **kw})


def _agent(algo: str, seed: int = SEED, **kw) -> SAC:
    torch.manual_seed(seed)
    cfg = _cfg(algo, **kw)
    agent = build_agent(cfg.obs_shape, (ACTION_DIM,), cfg, "cpu", GeneratedOverlay(SIZE))
    # Dense convs (see test_agent._small_agent): non-degenerate saliency masks at init.
    with torch.no_grad():
        for m in agent.critic.encoder.modules():
            if isinstance(m, nn.Conv2d):
                m.weight.add_(0.1 * torch.randn_like(m.weight))
        agent.critic_target.load_state_dict(agent.critic.state_dict())
        if agent.algorithm.soda:
            agent.soda_target[0].load_state_dict(agent.critic.encoder.state_dict())
    return agent


def _batch(obs_shape, n: int = 8, seed: int = SEED) -> Batch:
    g = torch.Generator().manual_seed(seed)
    return Batch(
        obs=torch.randint(0, 256, (n, *obs_shape), generator=g, dtype=torch.uint8),
        action=torch.rand(n, ACTION_DIM, generator=g) * 2 - 1,
        reward=torch.randn(n, 1, generator=g),
        next_obs=torch.randint(0, 256, (n, *obs_shape), generator=g, dtype=torch.uint8),
        not_done=(torch.rand(n, 1, generator=g) > 0.2).float(),
    )


class FixedReplay:
    """A replay stand-in whose sample(n) is always the first n of a fixed set (no RNG)."""

    def __init__(self, obs_shape, n: int = 300):
        self.batch = _batch(obs_shape, n, seed=SEED + 1)
        self.requests: list[int] = []

    def sample(self, n: int) -> Batch:
        self.requests.append(n)
        return Batch(*(t[:n] for t in self.batch))


# --- the table and its numbers ----------------------------------------------------------------


@pytest.mark.parametrize(
    "algo, augmentation, svea, soda, consistency, ssl",
    [
        ("sac", "none", False, False, False, False),
        ("drq", "shift", False, False, False, False),
        ("rad", "crop", False, False, False, False),
        ("soda", "crop", False, True, False, False),
        ("svea", "shift", True, False, False, False),
        ("svea_soda", "shift", True, True, False, False),
        ("sac_consistency", "shift", False, False, True, False),
        ("sac_ssl", "shift", False, False, False, True),
        ("sgqn", "shift", False, False, True, True),
    ],
)
def test_each_algorithm_row(algo, augmentation, svea, soda, consistency, ssl):
    row = ALGORITHMS[algo]
    assert (row.augmentation, row.svea, row.soda) == (augmentation, svea, soda)
    assert (row.consistency, row.attribution_ssl) == (consistency, ssl)
    cfg = Config(algo=algo)
    assert cfg.render_size == (100 if augmentation == "crop" else 84)  # DMC-GB: 100 -> 84
    assert cfg.obs_shape == (9, cfg.render_size, cfg.render_size)
    assert cfg.uses_overlay == (svea or soda or ssl)
    assert not Config(algo=algo, svea_augmentation="conv").uses_overlay or soda or ssl


def test_baseline_numbers_are_the_benchmarks():
    cfg = Config()
    assert ALGOS == tuple("sac drq rad soda svea svea_soda sac_consistency sac_ssl sgqn".split())
    assert (cfg.shift_pad, cfg.image_size, cfg.crop_margin) == (4, 84, 16)
    assert (cfg.svea_alpha, cfg.svea_beta, cfg.task_value("svea_augmentation")) == (
        0.5,
        0.5,
        "overlay",
    )
    assert (cfg.soda_batch_size, cfg.soda_tau, cfg.aux_update_freq) == (256, 0.005, 2)
    assert (cfg.soda_lr, cfg.soda_beta, cfg.overlay_alpha) == (3e-4, 0.9, 0.5)
    assert (cfg.attribution_head, cfg.aux_lr) == ("code", 3e-4)
    # The paper preset draws the authors' overlay images; cpu-demo takes what is cached.
    assert PRESETS["paper"]["overlay_source"] == "places365-train"
    assert resolve(Config(), "paper").overlay_source == "places365-train"
    assert resolve(Config(), "cpu-demo").overlay_source == "auto"
    assert resolve(Config(overlay_source="embedded"), "paper").overlay_source == "embedded"
    with pytest.raises(ValueError, match="--algo must be one of"):
        Config(algo="dqn").algorithm  # noqa: B018


def test_soda_networks_and_optimiser_are_the_benchmarks():
    agent = build_agent((9, 100, 100), (6,), Config(algo="soda"), "cpu", GeneratedOverlay(84))
    assert agent.critic.encoder.out_shape == (32, 21, 21)  # the 84x84 crop
    linears = [
        (m.in_features, m.out_features)
        for net in (agent.soda_projector, agent.soda_predictor)
        for m in net.modules()
        if isinstance(m, nn.Linear)
    ]
    assert linears == [(14112, 100), (100, 100), (100, 100), (100, 100)]
    group = agent.soda_optimizer.param_groups[0]
    assert (group["lr"], group["betas"]) == (3e-4, (0.9, 0.999))
    ids = lambda params: {id(p) for p in params}  # noqa: E731
    assert ids(group["params"]) == ids(agent.critic.encoder.parameters()) | ids(
        agent.soda_projector.parameters()
    ) | ids(agent.soda_predictor.parameters())
    # the target: its own copies of the convs and the projector, never optimised
    assert not ids(agent.soda_target.parameters()) & ids(group["params"])
    assert not any(p.requires_grad for p in agent.soda_target.parameters())
    for a, b in zip(
        agent.soda_target.parameters(),
        [*agent.critic.encoder.parameters(), *agent.soda_projector.parameters()],
        strict=True,
    ):
        assert torch.equal(a, b)
    sgqn = build_agent((9, 84, 84), (6,), Config(algo="sgqn"), "cpu", GeneratedOverlay(84))
    convs = [m.out_channels for m in sgqn.head.modules() if isinstance(m, nn.Conv2d)]
    assert convs == [128, 64, 9]  # the authors' attribution head by default
    paper = build_agent((9, 84, 84), (6,), Config(attribution_head="paper"), "cpu")
    assert [m.out_channels for m in paper.head.modules() if isinstance(m, nn.Conv2d)] == [
        64,
        64,
        9,
    ]


@pytest.mark.parametrize("algo", ["soda", "svea_soda"])
def test_sodas_learning_rate_under_the_paper_preset_is_the_reference_scripts(algo):
    """SODA's own Adam runs at lr 3e-4, beta1 0.9 under ``--preset paper``.

    Sources: the SGQN authors' ``DMC/scripts/soda.sh`` (``--aux_lr 3e-4``) and
    ``DMC/src/arguments.py`` (``--aux_lr`` default 3e-4, the lr of ``soda_optimizer`` in their
    ``DMC/src/algorithms/soda.py``), and DMControl-GB's ``scripts/soda.sh`` (``--aux_lr 3e-4``,
    overriding the 1e-3 default of its ``src/arguments.py``).
    """
    cfg = resolve(Config(algo=algo), "paper")
    assert (cfg.soda_lr, cfg.soda_beta) == (3e-4, 0.9)
    agent = build_agent(cfg.obs_shape, (6,), cfg, "cpu", GeneratedOverlay(cfg.image_size))
    group = agent.soda_optimizer.param_groups[0]
    assert (group["lr"], group["betas"]) == (3e-4, (0.9, 0.999))
    assert "soda_lr" not in paper_differences(cfg)


# --- plain reference computations -----------------------------------------------------------


def _plain_augment(obs: torch.Tensor, kind: str) -> torch.Tensor:
    """Draw the agent's augmentation randoms in its order and apply them by slicing."""
    b = obs.shape[0]
    x = obs.float()
    if kind == "none":
        return x
    if kind == "shift":
        offsets = torch.randint(0, 9, (b, 2))  # pad 4: 9 positions per axis
        padded = F.pad(x, (4, 4, 4, 4), mode="replicate")
        h, w = x.shape[-2:]
        return torch.stack(
            [padded[i, :, y : y + h, z : z + w] for i, (y, z) in enumerate(offsets.tolist())]
        )
    top = torch.randint(0, MARGIN, (b, 1))
    left = torch.randint(0, MARGIN, (b, 1))
    return torch.stack(
        [
            x[i, :, t : t + SIZE, s : s + SIZE]
            for i, (t, s) in enumerate(zip(top[:, 0], left[:, 0], strict=True))
        ]
    )


def _plain_overlay(obs: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    frames = obs.shape[1] // 3
    return 0.5 * obs + 0.5 * images.float().repeat(1, frames, 1, 1)


def _plain_random_conv(obs: torch.Tensor) -> torch.Tensor:
    weights = torch.randn(obs.shape[0] * 3, 3, 3, 3)
    out = []
    for i, sample in enumerate(obs):
        frames = sample.view(-1, 3, *sample.shape[-2:]) / 255
        padded = F.pad(frames, (1, 1, 1, 1), mode="replicate")
        out.append(torch.sigmoid(F.conv2d(padded, weights[3 * i : 3 * i + 3])).flatten(0, 1))
    return torch.stack(out) * 255


def _mse(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return ((a - b) ** 2).mean()


def _plain_critic_losses(ref: SAC, batch: Batch) -> dict[str, torch.Tensor]:
    """L_Q (and L_C) of ref's algorithm, drawing randoms in the agent's order."""
    cfg, row = ref.cfg, ref.algorithm
    obs = _plain_augment(batch.obs, row.augmentation)
    next_obs = _plain_augment(batch.next_obs, row.augmentation)
    with torch.no_grad():
        _, next_pi, next_log_pi, _ = ref.actor(ref.critic.encoder(next_obs))
        next_q1, next_q2 = ref.critic_target(next_obs, next_pi)
        next_v = torch.min(next_q1, next_q2) - 0.1 * next_log_pi  # alpha = init temperature
        target = batch.reward + 0.99 * batch.not_done * next_v
    q1, q2 = ref.critic(obs, batch.action)
    loss = _mse(q1, target) + _mse(q2, target)
    if row.svea:  # augmented copies of obs fit the same targets (from clean next_obs)
        if cfg.task_value("svea_augmentation") == "overlay":
            augmented = _plain_overlay(obs, ref.overlay.images(0, obs.shape[0]))
        else:
            augmented = _plain_random_conv(obs)
        a1, a2 = ref.critic(augmented, batch.action)
        loss = 0.5 * loss + 0.5 * (_mse(a1, target) + _mse(a2, target))
    losses = {"critic_loss": loss}
    if row.consistency:
        mask = saliency_mask(attribution(ref.critic, obs, batch.action), ref.quantile)
        assert 0 < mask.mean() < 0.5, "degenerate mask"
        fill = obs.min() + (obs.max() - obs.min()) * torch.rand(())
        masked = torch.where(mask.bool(), obs, fill)
        m1, m2 = ref.critic(masked, batch.action)
        losses["consistency_loss"] = _mse(q1, m1) + _mse(q2, m2)
    return losses


CRITIC_CASES = [(algo, {}) for algo in ALGOS] + [("svea", {"svea_augmentation": "conv"})]


@pytest.mark.parametrize("algo, options", CRITIC_CASES, ids=[f"{a}{o}" for a, o in CRITIC_CASES])
def test_critic_loss_matches_a_plain_computation(algo, options):
    agent = _agent(algo, **options)
    reference = copy.deepcopy(agent)
    batch = _batch(agent.obs_shape)
    torch.manual_seed(7)
    metrics = agent.update(batch, step=1, replay=FixedReplay(agent.obs_shape))
    torch.manual_seed(7)
    expected = _plain_critic_losses(reference, batch)
    assert set(expected) <= set(metrics)
    for name, value in expected.items():
        torch.testing.assert_close(metrics[name], value.detach(), rtol=1e-4, atol=1e-5)
    assert agent.overlay_drawn == (batch.obs.shape[0] if "svea" in algo and not options else 0)


@pytest.mark.parametrize("algo", ["soda", "svea_soda"])
def test_soda_loss_and_target_momentum_match_a_plain_computation(algo):
    agent = _agent(algo)
    reference = copy.deepcopy(agent)
    obs = FixedReplay(agent.obs_shape).sample(SODA_BATCH).obs
    kind = agent.algorithm.augmentation
    torch.manual_seed(11)
    metrics = agent.update_soda(obs)
    torch.manual_seed(11)
    clean = _plain_augment(obs, kind)
    augmented = _plain_overlay(_plain_augment(obs, kind), reference.overlay.images(0, SODA_BATCH))
    prediction = reference.soda_predictor(
        reference.soda_projector(reference.critic.encoder(augmented))
    )
    target = reference.soda_target(clean)
    unit = lambda v: v / v.norm(dim=1, keepdim=True)  # noqa: E731
    expected = ((unit(prediction) - unit(target)) ** 2).mean()
    torch.testing.assert_close(metrics["soda_loss"], expected.detach(), rtol=1e-4, atol=1e-6)
    assert agent.overlay_drawn == SODA_BATCH
    # the target moved 0.005 of the way to the updated online convs and projector
    online = [*agent.critic.encoder.parameters(), *agent.soda_projector.parameters()]
    for new, old, source in zip(
        agent.soda_target.parameters(), reference.soda_target.parameters(), online, strict=True
    ):
        torch.testing.assert_close(new, old + 0.005 * (source - old), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("algo", ["sac_ssl", "sgqn"])
def test_attribution_head_loss_matches_a_plain_binary_cross_entropy(algo):
    agent = _agent(algo)
    reference = copy.deepcopy(agent)
    batch = _batch(agent.obs_shape)
    obs = batch.obs.float()
    _, mask = agent.features_and_mask(obs, batch.action)
    metrics = agent.update_attribution_head(obs, batch.action, mask)
    overlaid = _plain_overlay(obs, reference.overlay.images(0, obs.shape[0]))
    embedding = reference.critic.projection(reference.critic.encoder(overlaid))
    p = torch.sigmoid(reference.head(embedding, batch.action))
    expected = -(mask * torch.log(p) + (1 - mask) * torch.log(1 - p)).mean()
    torch.testing.assert_close(metrics["aux_loss"], expected.detach(), rtol=1e-4, atol=1e-5)


def test_svea_shifts_next_obs_too_as_the_code_behind_the_published_numbers():
    """The targets come from shifted next observations, as in DMControl-GB's SVEA of 2021 (the
    code behind the SVEA numbers the SGQN paper prints) and in the SGQN authors' copy
    (``replay_buffer.sample_drq()``). DMControl-GB shifted only obs from 2022-09-10 (commit
    35a1eed, ``sample_svea``) until its author reverted that on 2024-01-03 (ff9c0aa, "fix subtle
    discrepancy in svea aug": ``sample_svea`` returns ``sample_drq``)."""
    agent = _agent("svea")
    batch = _batch(agent.obs_shape)
    seen = {}
    real = agent.td_target

    def td_target(reward, next_obs, not_done):
        seen["next_obs"] = next_obs
        return real(reward, next_obs, not_done)

    agent.td_target = td_target
    torch.manual_seed(3)
    agent.update(batch, step=1)
    torch.manual_seed(3)
    _plain_augment(batch.obs, "shift")  # obs is shifted first, with its own draws
    expected = _plain_augment(batch.next_obs, "shift")
    assert torch.equal(seen["next_obs"], expected)
    assert not torch.equal(seen["next_obs"], batch.next_obs.float())


def test_the_robot_protocol_gives_sodas_and_the_heads_views_random_convolutions():
    """robot_env/src/algorithms/{sgsac,soda}.py: random_conv where the DMC code overlays."""
    robot = {"env": "dmcgb/RobotReach-train-v0"}
    cfg = _cfg("sgqn", **robot)
    assert not cfg.uses_overlay
    torch.manual_seed(SEED)
    agent = build_agent(cfg.obs_shape, (ACTION_DIM,), cfg, "cpu")  # no image stream needed
    reference = copy.deepcopy(agent)
    batch = _batch(agent.obs_shape)
    obs = batch.obs.float()
    _, mask = agent.features_and_mask(obs, batch.action)
    torch.manual_seed(5)
    metrics = agent.update_attribution_head(obs, batch.action, mask)
    torch.manual_seed(5)
    convolved = _plain_random_conv(obs)
    p = torch.sigmoid(
        reference.head(
            reference.critic.projection(reference.critic.encoder(convolved)), batch.action
        )
    )
    expected = -(mask * torch.log(p) + (1 - mask) * torch.log(1 - p)).mean()
    torch.testing.assert_close(metrics["aux_loss"], expected.detach(), rtol=1e-4, atol=1e-5)
    soda_cfg = _cfg("soda", **robot)
    soda = build_agent(soda_cfg.obs_shape, (ACTION_DIM,), soda_cfg, "cpu")
    soda.update_soda(_batch(soda.obs_shape).obs)  # with an overlay it would ask for images


@pytest.mark.parametrize(
    "env, weight", [("dmcgb/WalkerWalk-train-v0", 0.5), ("dmcgb/RobotReach-train-v0", 1.0)]
)
def test_the_consistency_weight_is_the_authors_of_each_kind_of_task(env, weight):
    """DMC/src/algorithms/sgsac.py adds 0.5 * L_C; robot_env's sgsac.py adds L_C."""
    agent = _agent("sgqn", env=env, frame_stack=3)
    batch = _batch(agent.obs_shape)
    obs = batch.obs.float()
    target = batch.reward
    terms = agent.critic_loss(obs, batch.action, target)
    expected = terms.metrics["critic_loss"] + weight * terms.metrics["consistency_loss"]
    torch.testing.assert_close(terms.loss.detach(), expected)


# --- which parameters move ----------------------------------------------------------------


def _parts(agent: SAC) -> dict[str, list[torch.Tensor]]:
    parts = {
        "encoder": list(agent.critic.encoder.parameters()),
        "critic_projection": list(agent.critic.projection.parameters()),
        "q_heads": [*agent.critic.q1_head.parameters(), *agent.critic.q2_head.parameters()],
        "critic_target": list(agent.critic_target.parameters()),
        "actor": list(agent.actor.parameters()),
        "log_alpha": [agent.log_alpha],
    }
    if agent.algorithm.attribution_ssl:
        parts["attribution_head"] = list(agent.head.parameters())
    if agent.algorithm.soda:
        parts["soda_projector"] = list(agent.soda_projector.parameters())
        parts["soda_predictor"] = list(agent.soda_predictor.parameters())
        parts["soda_target"] = list(agent.soda_target.parameters())
    return parts


def _moved(agent: SAC, run) -> set[str]:
    before = {k: [p.detach().clone() for p in v] for k, v in _parts(agent).items()}
    run()
    return {
        name
        for name, params in _parts(agent).items()
        if any(not torch.equal(p, b) for p, b in zip(params, before[name], strict=True))
    }


CRITIC = {"encoder", "critic_projection", "q_heads"}
SAC_STEP = CRITIC | {"critic_target", "actor", "log_alpha"}


@pytest.mark.parametrize("algo", ALGOS)
def test_one_update_moves_what_it_should_and_only_that(algo):
    agent = _agent(algo)
    replay = FixedReplay(agent.obs_shape)
    batch = _batch(agent.obs_shape)
    row = agent.algorithm
    # odd step: the critic only
    assert _moved(agent, lambda: agent.update(batch, 1, replay)) == CRITIC
    assert replay.requests == []
    # even step: critic, actor, temperature, targets and the algorithm's auxiliary parts
    expected = set(SAC_STEP)
    if row.attribution_ssl:
        expected.add("attribution_head")
    if row.soda:
        expected |= {"soda_projector", "soda_predictor", "soda_target"}
    assert _moved(agent, lambda: agent.update(batch, 2, replay)) == expected
    assert replay.requests == ([SODA_BATCH] if row.soda else [])
    # the auxiliary steps alone touch the encoder and their own parts, never Q heads or actor
    obs = agent.augment(batch.obs)
    if row.soda:
        assert _moved(agent, lambda: agent.update_soda(batch.obs)) == {
            "encoder",
            "soda_projector",
            "soda_predictor",
            "soda_target",
        }
    if row.attribution_ssl:
        _, mask = agent.features_and_mask(obs, batch.action)
        moved = _moved(agent, lambda: agent.update_attribution_head(obs, batch.action, mask))
        assert moved == {"encoder", "critic_projection", "attribution_head"}
    features = agent.actor_features(obs, batch.action, step=1)
    assert _moved(agent, lambda: agent.update_actor_and_alpha(features)) == {"actor", "log_alpha"}


def test_soda_needs_the_replay_to_draw_its_batch():
    agent = _agent("soda")
    with pytest.raises(ValueError, match="its own batch of 12 transitions"):
        agent.update(_batch(agent.obs_shape), 2)


# --- checkpoints, acting, maps ------------------------------------------------------------


@pytest.mark.parametrize("algo", ALGOS)
def test_state_dict_loads_with_weights_only_and_continues_identically(algo):
    a = _agent(algo, seed=1)
    replay = FixedReplay(a.obs_shape)
    for step in (1, 2):
        a.update(_batch(a.obs_shape, seed=step), step, replay)
    buffer = io.BytesIO()
    torch.save(a.state_dict(), buffer)
    state = torch.load(io.BytesIO(buffer.getvalue()), weights_only=True)  # contract 5
    b = _agent(algo, seed=2)
    b.load_state_dict(state)
    assert b.overlay_drawn == a.overlay_drawn
    for seed in (3, 4):
        for agent in (a, b):
            torch.manual_seed(seed)
            agent.update(_batch(a.obs_shape, seed=seed), seed, replay)
    for name, part in _parts(a).items():
        for pa, pb in zip(part, _parts(b)[name], strict=True):
            assert torch.equal(pa, pb), name


@pytest.mark.parametrize("algo", ALGOS)
def test_act_and_attribution_maps_work_for_every_algo(algo):
    agent = _agent(algo)
    obs = _batch(agent.obs_shape, n=3).obs
    action = agent.act(obs[0].numpy(), sample=False)
    assert action.shape == (ACTION_DIM,) and np.abs(action).max() <= 1
    assert agent.act(obs, sample=True).shape == (3, ACTION_DIM)
    maps = agent.attribution_maps(obs)
    assert maps.observation.shape == maps.attribution.shape == maps.mask.shape == (3, 9, SIZE, SIZE)
    assert set(maps.mask.unique().tolist()) <= {0.0, 1.0}
    assert (maps.predicted is not None) == agent.algorithm.attribution_ssl
    if agent.algorithm.augmentation == "crop":
        # acting and maps read the centre crop: the border the crops may show is ignored
        border = obs.clone()
        inner = slice(MARGIN // 2, MARGIN // 2 + SIZE)
        keep = border[:, :, inner, inner].clone()
        border.random_(0, 256)
        border[:, :, inner, inner] = keep
        np.testing.assert_array_equal(agent.act(border, False), agent.act(obs, False))
        assert torch.equal(maps.observation, obs[:, :, inner, inner].float())


def test_a_run_builds_the_overlay_stream_only_for_the_algos_that_blend_images(
    monkeypatch, tmp_path
):
    monkeypatch.setenv("DMCGB_DATA_DIR", str(tmp_path))
    cfg = _cfg("rad")
    agent = make_agent(cfg, (ACTION_DIM,), "cpu")
    assert agent.obs_shape == (9, SIZE + MARGIN, SIZE + MARGIN) and agent.overlay is None
    cfg = _cfg("svea", overlay_source="embedded")
    agent = make_agent(cfg, (ACTION_DIM,), "cpu")
    try:
        assert agent.cfg.extra["overlay"].startswith("embedded")  # recorded in the run
        assert agent.overlay.images(0, 2).shape == (2, 3, SIZE, SIZE)
    finally:
        agent.close()
    assert build_agent(cfg.obs_shape, (ACTION_DIM,), cfg, "cpu").overlay is None  # evaluation's


@pytest.mark.gpu
@pytest.mark.parametrize("algo", ALGOS)
def test_cuda_update_of_every_algo_never_waits_for_the_host(algo):
    device = torch.device("cuda")
    torch.manual_seed(SEED)
    cfg = _cfg(algo, amp=True)
    agent = build_agent(
        cfg.obs_shape, (ACTION_DIM,), cfg, device, GeneratedOverlay(SIZE, device="cuda")
    )
    batch = Batch(*(t.to(device) for t in _batch(cfg.obs_shape)))
    replay = FixedReplay(cfg.obs_shape)
    replay.batch = Batch(*(t.to(device) for t in replay.batch))
    agent.update(batch, 2, replay)  # first calls may initialise lazily
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for step in (1, 2):
            metrics = agent.update(batch, step, replay)
    finally:
        torch.cuda.set_sync_debug_mode(0)
    assert all(v.device.type == "cuda" and torch.isfinite(v) for v in metrics.values())


@pytest.mark.parametrize(
    "field, value",
    [
        ("crop_margin", 0),
        ("svea_beta", -0.5),
        ("soda_batch_size", 0),
        ("soda_tau", 0.0),
        ("overlay_alpha", 1.5),
        ("aux_update_freq", 0),
    ],
)
def test_bad_algorithm_flags_are_named(field, value):
    flag = "--" + field.replace("_", "-")
    with pytest.raises(ConfigError) as refused:
        check(resolve(Config(**{field: value}), "paper"))
    assert flag in str(refused.value) and str(value) in str(refused.value)
    check(resolve(Config(), "paper"))
