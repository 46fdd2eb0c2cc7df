"""A small CNN exported by PyTorch's own exporter (torch.onnx.export, torch 2.13), for Ember's ONNX import test.

Writes Tests/EmberONNXTests/Fixtures/torch_cnn.onnx and torch_cnn.json: the input (batch 3) and the outputs of
PyTorch and of onnxruntime on it. Ember's importer must match onnxruntime's outputs.
Run with a venv holding torch==2.13.0, onnx==1.23.2, onnxruntime==1.32.0 and onnxscript (see ../shared/DATA.md).
"""
import json, os
import numpy as np
import onnxruntime as ort
import torch

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
OUT = os.path.join(ROOT, "Tests/EmberONNXTests/Fixtures")
torch.manual_seed(0)


class SmallCNN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 6, 3, padding=1)
        self.bn1 = torch.nn.BatchNorm2d(6)
        self.conv2 = torch.nn.Conv2d(6, 8, 3, stride=2, padding=1, groups=2)
        self.fc = torch.nn.Linear(8 * 4 * 4, 10)

    def forward(self, x):
        x = torch.nn.functional.max_pool2d(torch.relu(self.bn1(self.conv1(x))), 2)
        x = torch.nn.functional.gelu(self.conv2(x))
        x = torch.nn.functional.avg_pool2d(x, 1)
        return torch.log_softmax(self.fc(torch.flatten(x, 1)), dim=1)


model = SmallCNN()
with torch.no_grad():  # running statistics that are not the defaults
    model.bn1.running_mean.uniform_(-0.5, 0.5)
    model.bn1.running_var.uniform_(0.5, 2.0)
model.eval()
x = torch.randn(3, 1, 16, 16)
path = os.path.join(OUT, "torch_cnn.onnx")
torch.onnx.export(model, (x,), path, input_names=["x"], output_names=["y"], opset_version=17,
                  dynamic_shapes={"x": {0: torch.export.Dim("batch")}}, external_data=False)
with torch.no_grad():
    want = model(x).numpy()
(got,) = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {"x": x.numpy()})
assert np.allclose(got, want, rtol=1e-5, atol=1e-6)
json.dump({"input_shape": list(x.shape), "input": x.flatten().tolist(), "torch": want.flatten().tolist(),
           "onnxruntime": got.flatten().tolist(), "output_shape": list(got.shape)},
          open(os.path.join(OUT, "torch_cnn.json"), "w"))
print("wrote", path)
