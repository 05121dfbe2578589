"""Smoke checks: torch, torchvision and torchaudio load together and work with
their resolved dependencies (numpy, pillow, a C compiler for torch.compile).

    python smoke.py                 # every CPU check, one line each
    python smoke.py --gpu           # the CPU checks plus the GPU checks
    python smoke.py --json          # results as JSON (what `invoke test` reads)

Each check runs on its own: one failure does not hide the others. A
torchvision built for another torch fails in `nms` with "operator
torchvision::nms does not exist".
"""

import argparse
import json
import math
import sys
import time
import traceback


def nms():
    import torch
    import torchvision

    boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], dtype=torch.float32)
    scores = torch.tensor([0.9, 0.8, 0.7])
    keep = torchvision.ops.nms(boxes, scores, iou_threshold=0.5)
    assert keep.tolist() == [0, 2], keep
    return "torchvision.ops.nms keeps boxes [0, 2]"


def pil_transforms():
    from PIL import Image, ImageDraw
    from torchvision import transforms

    image = Image.new("RGB", (64, 48), "black")
    ImageDraw.Draw(image).rectangle([0, 0, 31, 47], fill="white")
    tensor = transforms.Compose([transforms.Resize((24, 32)), transforms.ToTensor()])(image)
    assert tensor.shape == (3, 24, 32), tensor.shape
    assert tensor[:, :, :8].min() > 0.99 and tensor[:, :, -8:].max() < 0.01
    return "PIL image -> Resize -> ToTensor (3, 24, 32)"


def numpy_bridge():
    import numpy as np
    import torch

    array = np.arange(6, dtype=np.float32).reshape(2, 3)
    tensor = torch.from_numpy(array)
    array[0, 0] = 42.0  # from_numpy shares memory with the array
    assert tensor[0, 0].item() == 42.0
    assert np.array_equal((tensor * 2).numpy(), array * 2)
    return f"torch.from_numpy / .numpy() share memory (numpy {np.__version__})"


def torchaudio_transform():
    import torch
    import torchaudio

    sample_rate, n_fft, tone = 16000, 400, 440.0
    t = torch.arange(sample_rate) / sample_rate
    wave = torch.sin(2 * math.pi * tone * t).unsqueeze(0)
    spectrum = torchaudio.transforms.Spectrogram(n_fft=n_fft)(wave)
    peak_hz = spectrum.mean(dim=-1).argmax().item() * sample_rate / n_fft
    assert abs(peak_hz - tone) <= sample_rate / n_fft, peak_hz
    mel = torchaudio.transforms.MelSpectrogram(sample_rate=sample_rate, n_mels=32)(wave)
    assert mel.shape[:2] == (1, 32), mel.shape
    return f"torchaudio Spectrogram finds the {tone:.0f} Hz tone at {peak_hz:.0f} Hz"


def model_forward():
    import torch
    import torchvision

    model = torchvision.models.resnet18(weights=None).eval()
    with torch.no_grad():
        logits = model(torch.randn(2, 3, 64, 64))
    assert logits.shape == (2, 1000), logits.shape
    return "torchvision resnet18 forward (2, 1000)"


def _compiled_matches_eager(device):
    import torch

    def gelu_mix(x, y):
        return torch.nn.functional.gelu(x) * torch.sin(y) + x.mean()

    compiled = torch.compile(gelu_mix, backend="inductor", fullgraph=True)
    x = torch.randn(256, 64, device=device)
    y = torch.randn(256, 64, device=device)
    torch.testing.assert_close(compiled(x, y), gelu_mix(x, y))


def compile_cpu():
    _compiled_matches_eager("cpu")
    return "torch.compile (inductor, C++ kernels) matches eager on the CPU"


def gpu_available():
    import torch

    assert torch.cuda.is_available(), "torch.cuda.is_available() is False"
    names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return f"{len(names)} GPU(s): {', '.join(names)}"


def gpu_matmul():
    import torch

    torch.manual_seed(0)
    a, b = torch.randn(512, 512), torch.randn(512, 512)
    on_gpu = (a.cuda() @ b.cuda()).cpu()
    torch.testing.assert_close(on_gpu, a @ b, rtol=1e-3, atol=1e-3)
    return "512x512 matmul on the GPU matches the CPU"


def gpu_conv():
    import torch

    torch.manual_seed(0)
    conv = torch.nn.Conv2d(3, 8, kernel_size=3, padding=1)
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        on_gpu = conv.cuda()(x.cuda()).cpu()
        on_cpu = conv.cpu()(x)
    torch.testing.assert_close(on_gpu, on_cpu, rtol=1e-3, atol=1e-3)
    return f"conv2d on the GPU (cuDNN {torch.backends.cudnn.version()}) matches the CPU"


def compile_gpu():
    _compiled_matches_eager("cuda")
    return "torch.compile (inductor, Triton kernels) matches eager on the GPU"


CPU_CHECKS = [nms, pil_transforms, numpy_bridge, torchaudio_transform, model_forward, compile_cpu]
GPU_CHECKS = [gpu_available, gpu_matmul, gpu_conv, compile_gpu]


def run(check):
    started = time.monotonic()
    try:
        detail, passed = check(), True
    except Exception as error:  # one broken check must not hide the others
        detail, passed = f"{type(error).__name__}: {error}", False
        traceback.print_exc(file=sys.stderr)
    return {"name": check.__name__, "passed": passed, "detail": detail, "seconds": round(time.monotonic() - started, 2)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpu", action="store_true", help="also run the GPU checks")
    parser.add_argument("--json", action="store_true", help="print results as JSON")
    parser.add_argument(
        "--skip", action="append", default=[], metavar="CHECK", help="leave out a check that does not apply"
    )
    args = parser.parse_args(argv)
    checks = [check for check in CPU_CHECKS + (GPU_CHECKS if args.gpu else []) if check.__name__ not in args.skip]
    if unknown := set(args.skip) - {check.__name__ for check in CPU_CHECKS + GPU_CHECKS}:
        parser.error(f"--skip: no check named {', '.join(sorted(unknown))}")
    results = [run(check) for check in checks]
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for result in results:
            print(f"{'ok  ' if result['passed'] else 'FAIL'}  {result['name']:<22} {result['detail']}")
    return 0 if all(result["passed"] for result in results) else 1


if __name__ == "__main__":
    sys.exit(main())
