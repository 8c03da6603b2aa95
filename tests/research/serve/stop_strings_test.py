"""The visible text of a generation, by hand."""

from research.serve.stop_strings import visible_text


def test_a_stop_string_cuts_the_text_and_ends_it():
    assert visible_text("abXYZcd", ["cd", "XYZ"], final=False) == ("ab", True)


def test_a_tail_that_may_become_a_stop_string_waits_until_the_end():
    assert visible_text("abcXY", ["XYZ"], final=False) == ("abc", False)
    assert visible_text("abcXY", ["XYZ"], final=True) == ("abcXY", False)


def test_a_character_the_next_token_completes_waits():
    assert visible_text("ab\ufffd", [], final=False) == ("ab", False)
