"""Trained models at work: loaded back from runs or exports, predicting files, exported to ONNX or TorchScript."""
