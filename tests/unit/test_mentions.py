"""The mention recogniser: the entity keys a text names, under the one naming rule the graph shares."""
from __future__ import annotations

import pytest

from memory.naming import entity_name as graph_name
from memory.errors import InvalidInput
from memory.mentions import MAX_MENTIONS, mentioned, query_keys
from memory.naming import normalise_name


def test_names_people_places_and_organisations_but_not_capitalised_openers() -> None:
    text = "[1:56 pm on 8 May, 2023] Caroline: Hey Mel! Yesterday I went to the LGBTQ support group with Dr. Chen."
    assert mentioned(text) == ["caroline", "mel", "lgbtq", "dr. chen"]
    assert mentioned("I moved to New York City and joined Acme last year.") == ["new york city", "acme"]
    assert mentioned("What did Melanie paint?") == ["melanie"]
    assert mentioned("i live in paris and work at acme") == []  # names are what the writer capitalised


def test_a_name_is_one_key_wherever_and_however_it_is_written() -> None:
    assert mentioned("Caroline's dog met CAROLINE’s cat; caroline was out.") == ["caroline"]
    assert mentioned("Caroline Street is where Caroline lives.") == ["caroline street", "caroline"]


def test_keys_are_bounded_per_text() -> None:
    many = " and ".join(f"Name{i}x" for i in range(3 * MAX_MENTIONS))
    assert len(mentioned("I met " + many)) == MAX_MENTIONS


def test_the_graph_names_entities_with_the_same_rule() -> None:
    for raw in ("  Caroline ", "New   York", "Dr. Chen.", "Zoë’s", "ÉCOLE"):
        assert graph_name(raw) == normalise_name(raw)
    with pytest.raises(InvalidInput):
        graph_name(" ?! ")


def test_a_query_in_the_first_person_also_names_its_user() -> None:
    assert query_keys("Where do I live now?", "Alice") == ["alice"]
    assert query_keys("Where does Caroline live?", "alice") == ["caroline"]
    assert query_keys("where is the key", "alice") == []
    assert query_keys("What did I tell Caroline?", None) == ["caroline"]
