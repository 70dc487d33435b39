"""The ProS task: backbone rebuildable by timm, teacher/student wiring, EMA, parameter groups, and learning."""

from __future__ import annotations

import copy

import pytest
import timm
import torch

from core.config import ConfigError
from training.ema import ema_update_
from training.model.backbone import use_explicit_attention
from training.model.config import LossConfig, ModelConfig, timm_kwargs, timm_name
from training.task import ProSTask

TINY = ModelConfig(arch="vit_tiny_cpu", img_size=32, head_hidden=64, num_prototypes=32)


def views(batch: int = 4, n_local: int = 2, seed: int = 0) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    generator = torch.Generator().manual_seed(seed)
    global_views = [torch.randn(batch, 3, 32, 32, generator=generator) for _ in range(2)]
    local_views = [torch.randn(batch, 3, 16, 16, generator=generator) for _ in range(n_local)]
    return global_views, local_views


def test_teacher_backbone_is_rebuilt_by_timm_with_equal_outputs() -> None:
    task = ProSTask(TINY, LossConfig())
    rebuilt = timm.create_model(timm_name(TINY), pretrained=False, **timm_kwargs(TINY))
    rebuilt.load_state_dict(task.teacher_backbone().state_dict())
    image = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(rebuilt.eval()(image), task.teacher_backbone()(image))
    assert task.teacher_backbone()(image).shape == (2, 192)


def test_explicit_attention_changes_the_kernel_not_the_outputs() -> None:
    task = ProSTask(TINY, LossConfig()).eval()
    fused = copy.deepcopy(task.teacher_backbone())
    image = torch.randn(2, 3, 32, 32)
    assert use_explicit_attention(task) == 2 * 4  # the 4 blocks of vit_tiny_cpu in student and teacher
    assert not any(getattr(m, "fused_attn", False) for m in task.modules())
    with torch.no_grad():
        torch.testing.assert_close(task.teacher_backbone()(image), fused(image), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize(
    ("config", "name", "patch"),
    [
        (ModelConfig(), "vit_small_patch16_224", 16),
        (ModelConfig(arch="vit_base", patch_size=8), "vit_base_patch8_224", 8),
        (ModelConfig(arch="vit_tiny", patch_size=8, img_size=64), "vit_tiny_patch16_224", 8),  # not registered
    ],
)
def test_timm_names_and_patch_sizes(config: ModelConfig, name: str, patch: int) -> None:
    assert timm_name(config) == name
    assert timm_kwargs(config)["patch_size"] == patch
    if config.arch == "vit_tiny":
        model = timm.create_model(timm_name(config), pretrained=False, **timm_kwargs(config))
        assert model.patch_embed.patch_size == (patch, patch)


def test_model_config_rejects_bad_values_with_the_key_and_fix() -> None:
    with pytest.raises(ConfigError, match="model.arch.*vit_tiny_cpu"):
        ModelConfig(arch="resnet50")
    with pytest.raises(ConfigError, match="model.img_size"):
        ModelConfig(img_size=100)
    with pytest.raises(ConfigError, match="model.patch_size"):
        ModelConfig(patch_size=32)


def test_forward_returns_loss_components_and_monitors_for_mixed_view_sizes() -> None:
    torch.manual_seed(0)
    task = ProSTask(TINY, LossConfig(me_max_weight=1.0, koleo_weight=0.1))
    out = task(*views(), teacher_temp=0.04)
    expected_keys = {"loss", "loss/matching", "loss/me_max", "loss/koleo", "monitor/teacher_entropy",
                     "monitor/kl_teacher_student", "monitor/prototypes_used", "monitor/feature_std"}
    assert set(out) == expected_keys
    assert out["loss"].requires_grad and not any(out[k].requires_grad for k in expected_keys - {"loss"})
    combined = out["loss/matching"] + out["loss/me_max"] + 0.1 * out["loss/koleo"]
    assert out["loss"].item() == pytest.approx(combined.item(), rel=1e-6)
    assert out["monitor/kl_teacher_student"].item() >= -1e-5
    assert 0 < out["monitor/teacher_entropy"].item() <= torch.log(torch.tensor(32.0)).item() + 1e-5
    assert 1 <= out["monitor/prototypes_used"].item() <= 8  # 2 global views x 4 samples
    out["loss"].backward()
    assert task.prototypes.weight.grad is not None
    assert all(p.grad is None for p in task.teacher.parameters())


def test_forward_under_bf16_autocast_gives_a_float32_finite_loss() -> None:
    task = ProSTask(TINY, LossConfig())
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = task(*views(), teacher_temp=0.04)
    assert out["loss"].dtype == torch.float32 and torch.isfinite(out["loss"])


def test_teacher_starts_equal_to_the_student_without_drop_path_and_out_of_training() -> None:
    task = ProSTask(ModelConfig(arch="vit_tiny_cpu", img_size=32, head_hidden=64, drop_path=0.2), LossConfig())
    for (name, t), s in zip(task.teacher.named_parameters(), task.student.parameters()):
        assert torch.equal(t, s), name
        assert not t.requires_grad
    assert task.student.backbone.blocks[-1].drop_path1.drop_prob == pytest.approx(0.2)
    assert isinstance(task.teacher.backbone.blocks[-1].drop_path1, torch.nn.Identity)
    task.train()
    assert task.student.training and not task.teacher.training
    assert task.teacher_prototypes is None  # shared prototypes by default


def test_ema_update_matches_a_manual_loop() -> None:
    torch.manual_seed(0)
    teacher = [torch.randn(3, 4), torch.randn(5)]
    student = [torch.randn(3, 4), torch.randn(5)]
    expected = [t.clone() for t in teacher]
    for t, s in zip(expected, student):
        for index in range(t.numel()):
            t.view(-1)[index] = 0.9 * t.view(-1)[index] + (1 - 0.9) * s.view(-1)[index]
    student_before = [s.clone() for s in student]
    ema_update_(teacher, student, momentum=0.9)
    for t, e in zip(teacher, expected):
        torch.testing.assert_close(t, e, rtol=1e-6, atol=1e-7)
    assert all(torch.equal(s, b) for s, b in zip(student, student_before))


def test_update_teacher_moves_teacher_and_ema_prototypes_towards_the_student() -> None:
    task = ProSTask(TINY, LossConfig(prototypes="ema"))
    with torch.no_grad():
        for p in list(task.student.parameters()) + [task.prototypes.weight]:
            p.add_(1.0)
    before = copy.deepcopy(task)
    task.update_teacher(momentum=0.75)
    pairs = list(zip(task.teacher.parameters(), before.teacher.parameters(), task.student.parameters()))
    pairs.append((task.teacher_prototypes.weight, before.teacher_prototypes.weight, task.prototypes.weight))
    for updated, old, student in pairs:
        torch.testing.assert_close(updated, 0.75 * old + 0.25 * student)
    task.update_teacher(momentum=0.0)
    assert all(torch.equal(t, s) for t, s in zip(task.teacher.parameters(), task.student.parameters()))
    task_before = [p.clone() for p in task.teacher.parameters()]
    task.update_teacher(momentum=1.0)
    assert all(torch.equal(t, b) for t, b in zip(task.teacher.parameters(), task_before))


def test_parameter_groups_exclude_norms_biases_and_the_teacher() -> None:
    task = ProSTask(TINY, LossConfig(prototypes="ema"))
    groups = {group["name"]: group for group in task.parameter_groups(weight_decay=0.04)}
    assert set(groups) == {"decay", "no_decay", "prototypes"}
    assert groups["no_decay"]["weight_decay"] == 0.0 and groups["decay"]["weight_decay"] == 0.04
    assert groups["prototypes"]["params"] == [task.prototypes.weight]
    names = {id(p): n for n, p in task.named_parameters()}
    no_decay_names = [names[id(p)] for p in groups["no_decay"]["params"]]
    assert all(n.endswith(".bias") or "norm" in n for n in no_decay_names)
    assert any("norm" in n for n in no_decay_names)
    decay_names = [names[id(p)] for p in groups["decay"]["params"]]
    assert all(p.ndim >= 2 for p in groups["decay"]["params"]) and "student.head.mlp.0.weight" in decay_names
    grouped = {id(p) for g in groups.values() for p in g["params"]}
    trainable = {id(p) for p in task.student.parameters()} | {id(task.prototypes.weight)}
    assert grouped == trainable
    assert not grouped & {id(p) for p in task.teacher.parameters()}


@pytest.mark.parametrize("loss", [LossConfig(), LossConfig(teacher_norm="sinkhorn", me_max_weight=1.0)])
def test_a_few_steps_on_a_fixed_batch_lower_the_loss_without_collapse(loss: LossConfig) -> None:
    torch.manual_seed(0)
    task = ProSTask(ModelConfig(arch="vit_tiny_cpu", img_size=32, head_hidden=128, num_prototypes=64), loss)
    optimizer = torch.optim.AdamW(task.parameter_groups(weight_decay=0.04), lr=1e-4)
    batch = views(batch=8, n_local=2, seed=1)
    history = []
    for _ in range(6):
        out = task(*batch, teacher_temp=0.04)
        optimizer.zero_grad()
        out["loss"].backward()
        optimizer.step()
        task.update_teacher(momentum=0.99)
        history.append({k: v.item() for k, v in out.items()})
    first, last = history[0], history[-1]
    assert last["loss/matching"] < 0.95 * first["loss/matching"]
    assert last["monitor/kl_teacher_student"] < first["monitor/kl_teacher_student"]
    assert last["monitor/prototypes_used"] > 1
    assert last["monitor/feature_std"] > 0.5 * first["monitor/feature_std"]


class _Wrapper(torch.nn.Module):
    """Stands for DistributedDataParallel: the wrapped network is ``.module`` and calls go through the wrapper."""

    def __init__(self, module: torch.nn.Module) -> None:
        super().__init__()
        self.module = module
        self.calls = 0

    def forward(self, *args: object) -> torch.Tensor:
        self.calls += 1
        return self.module(*args)


def test_task_works_when_the_loop_wraps_student_and_prototypes() -> None:
    task = ProSTask(TINY, LossConfig())
    inner_student = task.student
    task.student, task.prototypes = _Wrapper(task.student), _Wrapper(task.prototypes)
    out = task(*views(), teacher_temp=0.04)
    out["loss"].backward()
    # the student side goes through the wrappers once (gradient sync), the teacher uses the shared prototypes directly
    assert (task.student.calls, task.prototypes.calls) == (1, 1)
    assert task.student_backbone() is inner_student.backbone
    groups = {g["name"]: g for g in task.parameter_groups(0.04)}
    assert groups["prototypes"]["params"] == [task.prototypes.module.weight]
    with torch.no_grad():
        for p in inner_student.parameters():
            p.add_(1.0)
    task.update_teacher(momentum=0.0)
    assert all(torch.equal(t, s) for t, s in zip(task.teacher.parameters(), inner_student.parameters()))
