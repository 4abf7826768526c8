import numpy as np
from smartfed.data.series import SiteSeries
from smartfed.data.windows import (
    make_windows,
    mean_std_from_sums,
    normalization_sums,
    split_in_time,
)
from smartfed.models.threshold import calibrate_threshold, detection_metrics


def series(rows: int = 100) -> SiteSeries:
    values = np.arange(rows * 2, dtype=np.float32).reshape(rows, 2)
    labels = np.zeros(rows, np.int8)
    labels[75] = 1
    return SiteSeries("site-001", "org-1", "sensor", ("a", "b"), [values], [labels])


def test_split_is_in_time_order_with_no_overlap():
    pieces = split_in_time(series(100))
    train, val, test = (pieces[name][0][0] for name in ("train", "val", "test"))
    assert (len(train), len(val), len(test)) == (60, 20, 20)
    assert train[-1, 0] < val[0, 0] and val[-1, 0] < test[0, 0]


def test_federated_sums_give_the_pooled_mean_and_std():
    a = np.random.default_rng(0).normal(3, 2, (500, 2)).astype(np.float32)
    b = np.random.default_rng(1).normal(-1, 1, (200, 2)).astype(np.float32)
    total = normalization_sums([(a, None)], 2) + normalization_sums([(b, None)], 2)
    mean, std = mean_std_from_sums(total)
    pooled = np.concatenate([a, b])
    np.testing.assert_allclose(mean, pooled.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(std, pooled.std(axis=0), rtol=1e-4)


def test_a_window_is_anomalous_when_any_of_its_rows_is():
    pieces = split_in_time(series(100))
    windows = make_windows(pieces["val"], 4, np.zeros(2, np.float32), np.ones(2, np.float32))
    # val holds rows 60..79; the anomaly at row 75 is in the windows ending at rows 75..78
    assert len(windows) == 17
    assert windows.y.tolist() == [0] * 12 + [1] * 4 + [0]
    np.testing.assert_array_equal(windows.x[0, :, 0], [120, 122, 124, 126])


def test_threshold_comes_from_validation_and_maximises_f1_there():
    scores = np.array([0.1, 0.2, 0.3, 0.9, 0.95])
    labels = np.array([0, 0, 0, 1, 1])
    threshold = calibrate_threshold(scores, labels)
    assert 0.3 < threshold <= 0.9
    metrics = detection_metrics(scores, labels, threshold)
    assert (metrics.f1, metrics.precision, metrics.recall, metrics.auroc) == (1.0, 1.0, 1.0, 1.0)


def test_threshold_without_labelled_anomalies_flags_the_top_percent():
    scores = np.linspace(0, 1, 1001)
    assert calibrate_threshold(scores, np.zeros(1001, np.int8)) == np.quantile(scores, 0.99)
