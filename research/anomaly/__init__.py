"""Time-series anomaly detection: windows, per-point scores, thresholds, metrics and baselines.

Pipeline (see experiments/anomaly_detection.py): a series [T, C] is normalized with the statistics
of its training part, cut into sliding windows, reconstructed by a model fit on the training part
only; each point's score is the reconstruction error averaged over the windows covering it
(`windows.point_scores`), the threshold comes from held-out normal data (`threshold`), and flagged
points become ranges. `metrics` scores detections against labels; `zscore`, `pca` and
`matrix_profile` are the classical baselines run beside the autoencoder.
"""
