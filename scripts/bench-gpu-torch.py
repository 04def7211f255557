#!/usr/bin/env python3
"""PyTorch eager reference for scripts/bench-gpu.ts: training throughput (samples/s) of
the convnet and resnet students of src/graph/zoo, rebuilt layer for layer, on the same
batch, data shape and optimizer as the generated training-step graphs.

  python3 scripts/bench-gpu-torch.py [--device cuda|cpu] [--batch 256] [--steps 32]
                                     [--reps 5] [--warmup 10] [--archs convnet,resnet]
                                     [--threads N]

Prints one JSON line. Without torch (or without CUDA for --device cuda) it prints
{"skipped": "..."} and exits 0, so the caller can report why.

The architectures (read from src/graph/zoo/convnet.ts, resnet.ts and layers.ts):
  - convnet (defaults width 16, depth 3): per stage s, width w * 2^s, two blocks of
    Conv 3x3 (pad 1, no bias) + BatchNorm + ReLU; 2x2 max pooling (stride 2) after every
    stage but the last; global average pooling; Linear.
  - resnet (defaults width 16, depth 3 = ResNet-20): Conv 3x3 + BN + ReLU stem of width
    w; three stages of `depth` basic blocks of widths w, 2w, 4w, stride 2 at the first
    block of stages 2 and 3; a basic block is conv3x3-BN-ReLU-conv3x3-BN plus the
    shortcut, ReLU after the add; where the shape changes the shortcut is a 1x1 conv
    (stride 2, no bias) + BN projection; global average pooling; Linear.
  - BatchNorm: eps 1e-5, ONNX momentum 0.9 (running = 0.9 running + 0.1 batch), which is
    PyTorch's momentum=0.1; train mode (batch statistics).
  - AdamW as src/train/optim/adamw.ts: lr 1e-3 (the benchmarks' lr), betas (0.9, 0.999),
    eps 1e-8, weight decay 0.01 on conv and linear weights only; BN scales and shifts and
    the linear bias are exempt (layers.ts noDecay), as here with two parameter groups.
    PyTorch's default implementation (foreach on CUDA) is what the ratio is taken
    against; fused=True is measured too and reported beside it.
  - loss: mean cross-entropy over the batch (the step graph's masked mean with a mask
    of ones).
Data: one random batch [B, 3, 32, 32] and labels in 0..9, already on the device (the
most favourable case for PyTorch; the ONNX side feeds its batch from host memory every
run). cudnn.benchmark is on; the warm-up steps (which include cuDNN's autotuning) are
excluded; each timed repetition is bracketed by torch.cuda.synchronize(); the median
over repetitions is reported. No per-step host synchronisation (no loss.item()).
"""
import argparse
import json
import statistics
import sys
import time


def models(torch, nn, F) -> dict:
    """The student classes by preset name (torch passed in: it is imported lazily)."""
    def bn(c: int) -> nn.BatchNorm2d:
        return nn.BatchNorm2d(c, eps=1e-5, momentum=0.1)

    class ConvNet(nn.Module):
        def __init__(self, cin: int = 3, classes: int = 10, width: int = 16, stages: int = 3):
            super().__init__()
            layers: list = []
            c_in = cin
            for s in range(stages):
                c = width * 2 ** s
                for _ in range(2):
                    layers += [nn.Conv2d(c_in, c, 3, padding=1, bias=False), bn(c), nn.ReLU(inplace=True)]
                    c_in = c
                if s < stages - 1:
                    layers.append(nn.MaxPool2d(2))
            self.body = nn.Sequential(*layers)
            self.fc = nn.Linear(c_in, classes)

        def forward(self, x):
            return self.fc(torch.flatten(F.adaptive_avg_pool2d(self.body(x), 1), 1))

    class BasicBlock(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int):
            super().__init__()
            self.c1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
            self.b1 = bn(cout)
            self.c2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
            self.b2 = bn(cout)
            self.proj = None
            if stride != 1 or cin != cout:
                self.proj = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, padding=0, bias=False), bn(cout))

        def forward(self, x):
            h = F.relu(self.b1(self.c1(x)))
            y = self.b2(self.c2(h))
            return F.relu(y + (x if self.proj is None else self.proj(x)))

    class ResNet(nn.Module):
        def __init__(self, cin: int = 3, classes: int = 10, width: int = 16, blocks: int = 3):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(cin, width, 3, padding=1, bias=False), bn(width), nn.ReLU(inplace=True))
            layers: list = []
            c_in = width
            for s in range(3):
                c = width * 2 ** s
                for j in range(blocks):
                    layers.append(BasicBlock(c_in, c, 2 if s > 0 and j == 0 else 1))
                    c_in = c
            self.body = nn.Sequential(*layers)
            self.fc = nn.Linear(c_in, classes)

        def forward(self, x):
            return self.fc(torch.flatten(F.adaptive_avg_pool2d(self.body(self.stem(x)), 1), 1))

    return {'convnet': ConvNet, 'resnet': ResNet}


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument('--device', default='cuda', choices=['cuda', 'cpu'])
    p.add_argument('--batch', type=int, default=256)
    p.add_argument('--steps', type=int, default=32, help='optimizer steps per timed repetition')
    p.add_argument('--reps', type=int, default=5)
    p.add_argument('--warmup', type=int, default=10)
    p.add_argument('--archs', default='convnet,resnet')
    p.add_argument('--threads', type=int, default=0, help='torch.set_num_threads (CPU)')
    a = p.parse_args()
    try:
        import torch
        import torch.nn as nn
        import torch.nn.functional as F
    except ImportError as e:
        print(json.dumps({'skipped': f'PyTorch is not installed for {sys.executable} ({e})'}))
        return 0
    if a.device == 'cuda' and not torch.cuda.is_available():
        print(json.dumps({'skipped': f'torch {torch.__version__} sees no CUDA device (torch.version.cuda = {torch.version.cuda})'}))
        return 0
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.backends.cudnn.benchmark = True
    dev = torch.device(a.device)

    archs = models(torch, nn, F)
    sync = (lambda: torch.cuda.synchronize()) if a.device == 'cuda' else (lambda: None)
    results = {}
    for name in [s for s in a.archs.split(',') if s]:
        res = {}
        for impl in ['default', 'fused']:
            if impl == 'fused' and a.device != 'cuda':
                continue
            torch.manual_seed(1)
            model = archs[name]().to(dev).train()
            decay = [q for q in model.parameters() if q.ndim > 1]
            no_decay = [q for q in model.parameters() if q.ndim <= 1]
            groups = [{'params': decay, 'weight_decay': 0.01}, {'params': no_decay, 'weight_decay': 0.0}]
            kw = {'fused': True} if impl == 'fused' else {}
            try:
                opt = torch.optim.AdamW(groups, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, **kw)
            except (TypeError, RuntimeError) as e:  # fused AdamW needs torch >= 2.0
                res[impl] = {'error': str(e).split('\n')[0]}
                continue
            x = torch.randn(a.batch, 3, 32, 32, device=dev)
            y = torch.randint(0, 10, (a.batch,), device=dev)

            def step():
                opt.zero_grad(set_to_none=True)
                loss = F.cross_entropy(model(x), y)
                loss.backward()
                opt.step()
                return loss

            for _ in range(a.warmup):
                step()
            sync()
            reps = []
            for _ in range(a.reps):
                sync()
                t0 = time.perf_counter()
                for _ in range(a.steps):
                    loss = step()
                sync()
                reps.append(a.steps * a.batch / (time.perf_counter() - t0))
            res[impl] = {'samples_per_s': statistics.median(reps), 'reps': reps, 'final_loss': float(loss.item())}
            res['params'] = sum(q.numel() for q in model.parameters())
            del model, opt
        results[name] = {
            'params': res['params'],
            'samples_per_s': res['default']['samples_per_s'],
            'reps': res['default']['reps'],
            **({'fused_samples_per_s': res['fused'].get('samples_per_s'), **({'fused_error': res['fused']['error']} if 'error' in res['fused'] else {})} if 'fused' in res else {}),
        }
    out = {
        'torch': torch.__version__, 'cuda': torch.version.cuda,
        'cudnn': torch.backends.cudnn.version() if a.device == 'cuda' else None,
        'device': torch.cuda.get_device_name(0) if a.device == 'cuda' else 'cpu',
        'batch': a.batch, 'steps_per_rep': a.steps, 'reps': a.reps, 'warmup_steps': a.warmup,
        'cudnn_benchmark': torch.backends.cudnn.benchmark,
        'tf32_conv': torch.backends.cudnn.allow_tf32, 'tf32_matmul': torch.backends.cuda.matmul.allow_tf32,
        'optimizer': {'name': 'AdamW', 'lr': 1e-3, 'betas': [0.9, 0.999], 'eps': 1e-8, 'weight_decay': 0.01, 'impl': 'default (foreach on CUDA); fused measured too'},
        'data': 'one random batch on the device',
        'results': results,
    }
    print(json.dumps(out))
    return 0


if __name__ == '__main__':
    sys.exit(main())
