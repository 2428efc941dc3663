"""The transcription pipeline: options -> segments (VAD, long-form) -> batched decoding through the decoding
policy -> word timestamps -> results and output formats; evaluation scores it on manifests."""
