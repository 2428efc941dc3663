"""Deployment runtimes: the network as ONNX graphs (`export.py`, `graphs.py`) run by onnxruntime (`onnx_net.py`)
behind the same interface as the PyTorch `ASRModel` (`asr.model.network.Network`), so every search, the pipeline
and the server run on either. onnxruntime is optional (`pip install asr[onnx]`)."""
