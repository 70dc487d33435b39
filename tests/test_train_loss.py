"""The ProS matching loss, DINO's loss, teacher normalisations and regularizers, on hand-made tensors."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F

from training.loss.centering import Center
from training.loss.dino_loss import DINOLoss
from training.loss.pros_loss import ProSLoss
from training.loss.regularizers import koleo, me_max
from training.loss.sinkhorn import sinkhorn_knopp
from training.model.config import LossConfig, ModelConfig

# The distributed test spawns processes that import this module: timm-heavy imports stay inside the tests using them.

# Two prototypes, batch of one, two global views (no local views). Student logits (cosine similarities):
#   view 0: [0.0, 0.1] -> / tau_s=0.1 -> [0, 1] -> log p_s0 = [-log(1+e), 1-log(1+e)] = [-1.3132617, -0.3132617]
#   view 1: [0.2, 0.0] -> [2, 0]                 -> log p_s1 = [2-log(1+e^2), -log(1+e^2)] = [-0.1269280, -2.1269280]
STUDENT = torch.tensor([[0.0, 0.1], [0.2, 0.0]])
# Teacher logits: view 0 [0.1, 0.0], view 1 [0.0, 0.0]; tau_t = 0.05.
TEACHER = torch.tensor([[0.1, 0.0], [0.0, 0.0]])


def test_matching_loss_equals_hand_computed_value_without_center() -> None:
    # p_t0 = softmax([2, 0]) = [0.8807971, 0.1192029]; p_t1 = [0.5, 0.5]
    # H(p_t0, p_s1) = 0.8807971 * 0.1269280 + 0.1192029 * 2.1269280 = 0.3653339
    # H(p_t1, p_s0) = 0.5 * 1.3132617 + 0.5 * 0.3132617           = 0.8132617
    # pairs (t=0, s=1) and (t=1, s=0): mean = 0.5892978
    loss = ProSLoss(LossConfig(student_temp=0.1), num_prototypes=2)
    out = loss(STUDENT, TEACHER, n_student_views=2, teacher_temp=0.05)
    assert out.loss.item() == pytest.approx(0.5892978, abs=1e-6)
    assert out.teacher_probs[0].tolist() == pytest.approx([0.8807971, 0.1192029], abs=1e-6)


def test_matching_loss_subtracts_the_center_before_sharpening() -> None:
    # center [0.05, 0]: teacher view 0 -> ([0.1, 0] - c) / 0.05 = [1, 0] -> p_t0 = [0.7310586, 0.2689414]
    #                   teacher view 1 -> [-1, 0]                       -> p_t1 = [0.2689414, 0.7310586]
    # H(p_t0, p_s1) = 0.7310586 * 0.1269280 + 0.2689414 * 2.1269280 = 0.6648109
    # H(p_t1, p_s0) = 0.2689414 * 1.3132617 + 0.7310586 * 0.3132617 = 0.5822031  -> mean 0.6235070
    loss = ProSLoss(LossConfig(student_temp=0.1), num_prototypes=2).eval()
    loss.center.center.copy_(torch.tensor([[0.05, 0.0]]))
    out = loss(STUDENT, TEACHER, n_student_views=2, teacher_temp=0.05)
    assert out.loss.item() == pytest.approx(0.6235070, abs=1e-6)


def test_the_center_moves_in_training_mode_only() -> None:
    loss = ProSLoss(LossConfig(center_momentum=0.9), num_prototypes=2).eval()
    teacher = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    loss(STUDENT, teacher, n_student_views=2, teacher_temp=0.05)
    assert loss.center.center.tolist() == [[0.0, 0.0]]
    loss.train()(STUDENT, teacher, n_student_views=2, teacher_temp=0.05)
    assert loss.center.center[0].tolist() == pytest.approx([0.2, 0.3])


def test_center_update_is_an_ema_of_the_batch_mean_logits() -> None:
    center = Center(num_prototypes=2, momentum=0.9)
    center.update(torch.tensor([[1.0, 2.0], [3.0, 4.0]]))  # batch mean [2, 3]
    assert center.center[0].tolist() == pytest.approx([0.2, 0.3])
    center.update(torch.tensor([[1.0, 2.0], [3.0, 4.0]]))  # 0.9 * [0.2, 0.3] + 0.1 * [2, 3]
    assert center.center[0].tolist() == pytest.approx([0.38, 0.57])


def test_local_views_are_matched_against_both_global_teacher_views() -> None:
    # Add a local student view equal to student view 1; pairs: (0,1), (0,2), (1,0), (1,2).
    # H(p_t0, p_s2) = H(p_t0, p_s1) = 0.3653339; H(p_t1, p_s2) = 0.5 * (0.1269280 + 2.1269280) = 1.1269280
    # mean = (0.3653339 + 0.3653339 + 0.8132617 + 1.1269280) / 4 = 0.6677144
    student = torch.cat([STUDENT, STUDENT[1:]])
    out = ProSLoss(LossConfig(), num_prototypes=2)(student, TEACHER, n_student_views=3, teacher_temp=0.05)
    assert out.loss.item() == pytest.approx(0.6677144, abs=1e-6)


def _random_logits(rows: int, k: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(rows, 16, generator=generator), dim=-1) @ F.normalize(
        torch.randn(k, 16, generator=generator), dim=-1
    ).t()


@pytest.mark.parametrize("teacher_norm", ["center", "sinkhorn"])
def test_permuting_the_prototypes_leaves_the_loss_unchanged(teacher_norm: str) -> None:
    from training.task import ProSTask

    torch.manual_seed(0)
    config = LossConfig(teacher_norm=teacher_norm, me_max_weight=0.5, koleo_weight=0.1)
    task = ProSTask(ModelConfig(arch="vit_tiny_cpu", img_size=32, head_hidden=64, num_prototypes=16), config)
    if task.criterion.center is not None:
        task.criterion.center.center.copy_(torch.randn(1, 16) * 0.1)
    views = [torch.randn(3, 3, 32, 32) for _ in range(2)], [torch.randn(3, 3, 16, 16)]
    permuted = copy.deepcopy(task)
    order = torch.randperm(16)
    permuted.prototypes.weight.data = task.prototypes.weight.data[order].clone()
    if permuted.criterion.center is not None:
        permuted.criterion.center.center.copy_(task.criterion.center.center[:, order])
    task.eval(), permuted.eval()
    first, second = task(*views, teacher_temp=0.04), permuted(*views, teacher_temp=0.04)
    for key in ("loss", "loss/matching", "loss/me_max", "monitor/teacher_entropy", "monitor/prototypes_used"):
        assert first[key].item() == pytest.approx(second[key].item(), rel=1e-5, abs=1e-6), key


def dino_algorithm_1(student_out: list[torch.Tensor], teacher_out: list[torch.Tensor], center: torch.Tensor,
                     tps: float, tpt: float) -> torch.Tensor:
    """DINO's loss as published (Algorithm 1, generalised to multi-crop as in the paper's section 3.1):
    sum over global teacher views t and student views s != t of H(P_t, P_s), divided by the number of terms."""
    terms = []
    for t_index, t in enumerate(teacher_out):
        p_t = torch.softmax((t.detach() - center) / tpt, dim=1)
        for s_index, s in enumerate(student_out):
            if s_index != t_index:
                terms.append(-(p_t * torch.log(torch.softmax(s / tps, dim=1))).sum(dim=1).mean())
    return sum(terms) / len(terms)


def weight_normed_last_layer(weight: torch.Tensor) -> torch.nn.Module:
    """DINO's head ends in weight_norm(Linear(bottleneck, K, bias=False)) with weight_g filled with 1 and frozen."""
    layer = torch.nn.utils.parametrizations.weight_norm(torch.nn.Linear(weight.shape[1], weight.shape[0], bias=False))
    with torch.no_grad():
        layer.parametrizations.weight.original1.copy_(weight)
        layer.parametrizations.weight.original0.fill_(1.0)
    layer.parametrizations.weight.original0.requires_grad_(False)
    return layer


def test_dino_kind_equals_a_direct_transcription_of_dinos_formula() -> None:
    from training.task import ProSTask

    torch.manual_seed(1)
    loss_config = LossConfig(kind="dino", prototypes="ema", student_temp=0.1, center_momentum=0.9)
    model = ModelConfig(arch="vit_tiny_cpu", img_size=32, head_hidden=64, num_prototypes=32, drop_path=0.0)
    task = ProSTask(model, loss_config)  # no drop-path: the two computations below must see the same student
    task.criterion.center.center.copy_(torch.randn(1, 32) * 0.05)
    with torch.no_grad():  # a teacher that differs from the student, as after some training
        task.teacher_prototypes.weight.add_(0.1 * torch.randn_like(task.teacher_prototypes.weight))
    global_views = [torch.randn(4, 3, 32, 32) for _ in range(2)]
    local_views = [torch.randn(4, 3, 16, 16) for _ in range(3)]
    center_before = task.criterion.center.center.clone()

    z_s = task.student(global_views + local_views).detach()
    z_t = task.teacher(global_views).detach()
    student_layer = weight_normed_last_layer(task.prototypes.weight.detach())
    teacher_layer = weight_normed_last_layer(task.teacher_prototypes.weight.detach())
    student_out, teacher_out = student_layer(z_s), teacher_layer(z_t)
    expected = dino_algorithm_1(list(student_out.chunk(5)), list(teacher_out.chunk(2)), center_before, 0.1, 0.04)
    expected.backward()
    expected_center = 0.9 * center_before + 0.1 * teacher_out.detach().mean(dim=0, keepdim=True)

    out = task(global_views, local_views, teacher_temp=0.04)
    out["loss"].backward()
    assert out["loss"].item() == pytest.approx(expected.item(), rel=1e-5)
    torch.testing.assert_close(task.criterion.center.center, expected_center)
    torch.testing.assert_close(
        task.prototypes.weight.grad, student_layer.parametrizations.weight.original1.grad, rtol=1e-4, atol=1e-7
    )


def test_pros_with_ema_prototypes_and_centering_equals_the_dino_kind() -> None:
    from training.task import ProSTask

    model = ModelConfig(arch="vit_tiny_cpu", img_size=32, head_hidden=64, num_prototypes=32)
    views = [torch.randn(2, 3, 32, 32) for _ in range(2)], [torch.randn(2, 3, 16, 16) for _ in range(2)]
    results = []
    for kind in ("pros", "dino"):
        torch.manual_seed(3)
        task = ProSTask(model, LossConfig(kind=kind, prototypes="ema"))
        results.append([task(*views, teacher_temp=0.05)["loss"].item() for _ in range(2)])  # 2nd uses the center
    assert results[0] == pytest.approx(results[1], rel=1e-5)
    assert isinstance(task.criterion, DINOLoss)


def test_dino_kind_refuses_options_dino_does_not_have() -> None:
    from core.config import ConfigError

    with pytest.raises(ConfigError, match="loss.prototypes=ema"):
        LossConfig(kind="dino")
    with pytest.raises(ConfigError, match="loss.koleo_weight=0.0"):
        LossConfig(kind="dino", prototypes="ema", koleo_weight=0.1)


def test_sinkhorn_rows_sum_to_one_and_columns_to_batch_over_k() -> None:
    logits = _random_logits(rows=12, k=4, seed=0) * 3
    q = sinkhorn_knopp(logits, teacher_temp=0.1, iterations=200)
    torch.testing.assert_close(q.sum(dim=1), torch.ones(12))
    torch.testing.assert_close(q.sum(dim=0), torch.full((4,), 3.0), rtol=1e-4, atol=1e-4)
    # three iterations already bring the prototype marginals much closer to uniform than a plain softmax
    softmax_gap = (torch.softmax(logits / 0.1, dim=1).sum(dim=0) - 3).abs().max()
    three_gap = (sinkhorn_knopp(logits, 0.1, 3).sum(dim=0) - 3).abs().max()
    assert three_gap < 0.5 * softmax_gap


def test_sinkhorn_does_not_overflow_at_low_temperature() -> None:
    q = sinkhorn_knopp(torch.tensor([[1.0, -1.0], [0.9, 1.0]]), teacher_temp=0.001, iterations=3)
    assert torch.isfinite(q).all()


def test_me_max_on_hand_made_probabilities() -> None:
    # mean of [[0.9, 0.1], [0.7, 0.3]] is [0.8, 0.2]; log 2 - H([0.8, 0.2]) = 0.6931472 - 0.5004024 = 0.1927448
    assert me_max(torch.tensor([[0.9, 0.1], [0.7, 0.3]])).item() == pytest.approx(0.1927448, abs=1e-6)
    assert me_max(torch.tensor([[1.0, 0.0], [0.0, 1.0]])).item() == pytest.approx(0.0, abs=1e-6)
    assert me_max(torch.tensor([[1.0, 0.0], [1.0, 0.0]])).item() == pytest.approx(math.log(2), abs=1e-6)


def test_koleo_on_hand_made_points() -> None:
    # a=[1,0], b=[0.6,0.8], c=[-1,0]: nearest of a is b (|a-b| = sqrt(0.8)), of b is a, of c is b (sqrt(3.2)).
    # -mean log distance = -(2 log 0.8944272 + log 1.7888544) / 3 = -0.1194773
    points = torch.tensor([[1.0, 0.0], [0.6, 0.8], [-1.0, 0.0]])
    assert koleo(points).item() == pytest.approx(-0.1194773, abs=1e-5)
    # unnormalised input is normalised first
    assert koleo(points * 5).item() == pytest.approx(-0.1194773, abs=1e-5)
    # a duplicated point makes the term large: that is what pushes features apart
    assert koleo(torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])).item() > 5


def _distributed_worker(rank: int, init_file: str, logits: torch.Tensor, result_file: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    half = logits.chunk(2)[rank]
    q = sinkhorn_knopp(half, teacher_temp=0.1, iterations=3)
    center = Center(logits.shape[1], momentum=0.5)
    center.update(half)
    probs = torch.softmax(half / 0.1, dim=1).requires_grad_(True)
    term = me_max(probs)
    term.backward()
    torch.save({"q": q, "center": center.center, "me_max": term.detach(), "grad": probs.grad}, f"{result_file}{rank}")
    dist.destroy_process_group()


def test_distributed_sinkhorn_center_and_me_max_equal_the_single_process_values(tmp_path: Path) -> None:
    logits = _random_logits(rows=8, k=5, seed=2)
    mp.spawn(_distributed_worker, args=(str(tmp_path / "init"), logits, str(tmp_path / "rank")), nprocs=2)
    ranks = [torch.load(tmp_path / f"rank{r}", weights_only=True) for r in range(2)]
    torch.testing.assert_close(torch.cat([r["q"] for r in ranks]), sinkhorn_knopp(logits, 0.1, 3))
    expected_center = Center(5, momentum=0.5)
    expected_center.update(logits)
    for r in ranks:
        torch.testing.assert_close(r["center"], expected_center.center)
    probs = torch.softmax(logits / 0.1, dim=1).requires_grad_(True)
    term = me_max(probs)
    term.backward()
    for r in ranks:
        torch.testing.assert_close(r["me_max"], term.detach())
    # each rank's gradient is the global term's gradient w.r.t. its own rows, scaled by the world size; DDP's
    # averaging over 2 ranks then gives exactly the gradient of the global term.
    torch.testing.assert_close(torch.cat([r["grad"] for r in ranks]) / 2, probs.grad)
