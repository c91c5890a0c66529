"""Restreaming a camera to an RTMP(S) server (YouTube Live, Facebook Live, a KPU server) from the stream bus."""
