from svckit.memo import ResponseMemo


def test_reuses_a_result_only_for_the_very_same_sources():
    built = []
    memo = ResponseMemo(lambda *sources: built.append(sources) or len(built))
    first, second = object(), object()
    assert memo.response("k", first, None) == 1
    assert memo.response("k", first, None) == 1
    assert memo.response("k", second, None) == 2  # another object, even if equal, is built anew
    assert memo.response("k", second) == 3  # other arity
    assert memo.response("other", second) == 4
    assert len(built) == 4


def test_is_bounded():
    memo = ResponseMemo(lambda source: source, max_entries=2)
    sources = [object() for _ in range(3)]
    for index, source in enumerate(sources):
        memo.response(index, source)
    assert len(memo._entries) == 2
