"""The TF-IDF benchmark at tiny size: it checks both sides produce the same matrix before timing,
and reports every timing it claims (correctness only, no timing assertions)."""

from experiments.benchmarks import tfidf


def test_tiny_run_checks_equal_output_and_reports_ratio(capsys):
    result = tfidf.run(repeat=1, reps=1, ngram_max=2)
    assert result["max_abs_diff"] < 1e-12  # identical up to float64 rounding
    assert result["documents"] == len(tfidf.corpus(1)) and result["nnz"] > 0
    assert result["ratio_min"] == result["sklearn_min_s"] / result["ours_min_s"]
    assert set(result["profile_s"]) >= {
        "tokenize (preprocess, split, token ids)",
        "count (doc, term) pairs",
    }
    assert "ratio sklearn / ours" in capsys.readouterr().out
