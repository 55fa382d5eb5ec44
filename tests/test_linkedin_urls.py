"""A prospect's profile link, as pasted, becomes the one URL the API is sent (decision 12).

Tables of accepted forms and of each rejected kind with the words its message must say;
a few properties (hypothesis) for idempotence, the output's shape and percent-encoding.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline import linkedin
from pipeline.linkedin import PROFILE_PREFIX, canonical_profile_url
from pipeline.parse import CellError

PROPERTIES = settings(max_examples=150, deadline=None, database=None)
# Lower-case slug characters and `%XX` with upper-case hex, nothing else.
CANONICAL = re.compile(r"https://www\.linkedin\.com/in/(?:[a-z0-9_-]|%[0-9A-F]{2})+")
ANNA = "https://www.linkedin.com/in/anna-adams"
PASTE = "paste the person's profile link (linkedin.com/in/...)"


@pytest.mark.parametrize(
    "pasted",
    [
        "https://www.linkedin.com/in/anna-adams",
        "http://www.linkedin.com/in/anna-adams",
        "www.linkedin.com/in/anna-adams",
        "linkedin.com/in/anna-adams",
        "https://linkedin.com/in/anna-adams",
        "m.linkedin.com/in/anna-adams",
        "https://de.linkedin.com/in/anna-adams",
        "uk.linkedin.com/in/anna-adams",
        "https://www.linkedin.com/in/anna-adams/",
        "https://www.linkedin.com/in/anna-adams/details/experience/",
        "https://www.linkedin.com/in/anna-adams/overlay/contact-info/",
        "https://www.linkedin.com/in/anna-adams?trk=public_profile_browsemap",
        "https://de.linkedin.com/in/anna-adams?originalSubdomain=de",
        "https://www.linkedin.com/in/anna-adams#experience",
        "linkedin.com/in/anna-adams/?trk=x#y",
        "linkedin.com/in/anna-adams?",
        "HTTPS://WWW.LINKEDIN.COM/IN/ANNA-ADAMS",
        "Https://LinkedIn.Com/In/Anna-Adams",
        "LINKEDIN.COM/IN/ANNA-ADAMS",
        "https://www.linkedin.com:443/in/anna-adams",
        "https://www.linkedin.com./in/anna-adams",
        "  https://www.linkedin.com/in/anna-adams  ",
        "\thttps://www.linkedin.com/in/anna-adams\r\n",
        "\ufeffhttps://www.linkedin.com/in/anna-adams",
        "\u00a0https://www.linkedin.com/in/anna-adams\u00a0",
        "https://www.linkedin.com/in/anna-adams\u200b",
        "\u200e https://www.linkedin.com/in/anna-adams \u200f",
        "<https://www.linkedin.com/in/anna-adams>",
        " < linkedin.com/in/anna-adams > ",
        "linkedin.com/in/%61nna-%41DAMS",
        "linkedin.com/in/anna%2Dadams",
    ],
)
def test_every_accepted_form_gives_the_one_canonical_url(pasted: str) -> None:
    """Scheme or none, any subdomain, any case, anything after the slug, whitespace and
    invisible characters around it and one pair of <...> all give the same URL."""
    assert canonical_profile_url(pasted) == ANNA


@pytest.mark.parametrize(
    ("slug", "expected"),
    [
        ("anna_adams_4b5c6d7", "anna_adams_4b5c6d7"),
        ("Jürgen-Müller", "j%C3%BCrgen-m%C3%BCller"),
        ("j%C3%BCrgen-m%C3%BCller", "j%C3%BCrgen-m%C3%BCller"),
        ("j%c3%bcrgen-m%c3%bcller", "j%C3%BCrgen-m%C3%BCller"),
        ("J%C3%9Crgen", "j%C3%BCrgen"),
        ("ju\u0308rgen", "j%C3%BCrgen"),
        ("Ñandú", "%C3%B1and%C3%BA"),
        ("张伟-123", "%E5%BC%A0%E4%BC%9F-123"),
        ("%E5%BC%A0%E4%BC%9F-123", "%E5%BC%A0%E4%BC%9F-123"),
        ("محمد-علي", "%D9%85%D8%AD%D9%85%D8%AF-%D8%B9%D9%84%D9%8A"),
        ("Иван-Петров", "%D0%B8%D0%B2%D0%B0%D0%BD-%D0%BF%D0%B5%D1%82%D1%80%D0%BE%D0%B2"),
        ("😀-fan", "%F0%9F%98%80-fan"),
        ("ΟΔΟΣ", "%CE%BF%CE%B4%CE%BF%CF%82"),
        ("Straße", "stra%C3%9Fe"),
        ("ẞ", "%C3%9F"),
        ("İstanbul", "i%CC%87stanbul"),
        ("anna.adams", "anna%2Eadams"),
        ("anna~adams", "anna%7Eadams"),
        ("a%2Fb", "a%2Fb"),
        ("100%25", "100%25"),
    ],
)
def test_the_slug_is_decoded_lowered_and_encoded_again(slug: str, expected: str) -> None:
    """Encoded or not, the slug is NFC, `str.lower()` (ß stays ß, İ gives i + U+0307, a
    final sigma is kept) and percent-encoded as UTF-8 with upper-case hex."""
    assert canonical_profile_url(f"https://www.linkedin.com/in/{slug}") == PROFILE_PREFIX + expected


def test_the_decision_example_holds() -> None:
    """Decision 12's own example gives exactly the URL it names."""
    assert (
        canonical_profile_url("LinkedIn.com/in/Jürgen-Müller/?trk=x")
        == "https://www.linkedin.com/in/j%C3%BCrgen-m%C3%BCller"
    )


def test_a_company_page_is_refused_in_the_documented_words() -> None:
    """The message quotes the value, names the kind of link and says what to paste."""
    with pytest.raises(CellError) as caught:
        canonical_profile_url("https://www.linkedin.com/company/acme")
    assert str(caught.value) == (
        '"https://www.linkedin.com/company/acme" is a company page, not a person\'s '
        "profile; paste the person's profile link (linkedin.com/in/...)"
    )


@pytest.mark.parametrize(
    ("pasted", "words"),
    [
        ("https://www.linkedin.com/company/acme/", ("company page", PASTE)),
        ("linkedin.com/showcase/acme-cloud", ("company page", PASTE)),
        ("https://www.linkedin.com/school/tu-munich/", ("school page", PASTE)),
        (
            "https://www.linkedin.com/pub/anna-adams/1a/2b3/4c5",
            ("old-style public profile link (/pub/)", "current profile link", "linkedin.com/in/"),
        ),
        (
            "https://www.linkedin.com/sales/lead/ACwAAA1BcdE,NAME_SEARCH,xYz",
            ("Sales Navigator link", "public profile in LinkedIn", "linkedin.com/in/"),
        ),
        (
            "https://www.linkedin.com/sales/people/ACwAAA1BcdE,name",
            ("Sales Navigator link", "public profile in LinkedIn"),
        ),
        ("https://www.linkedin.com/sales/company/1234", ("Sales Navigator link",)),
        (
            "https://www.linkedin.com/search/results/people/?keywords=anna",
            ("LinkedIn search", PASTE),
        ),
        ("https://www.linkedin.com/posts/anna-adams_ai-activity-1234", ("LinkedIn post",)),
        ("https://www.linkedin.com/feed/update/urn:li:activity:1234/", ("LinkedIn feed link",)),
        ("https://www.linkedin.com/pulse/why-ai-anna-adams", ("LinkedIn article",)),
        ("https://www.linkedin.com/jobs/view/1234/", ("LinkedIn job link",)),
        ("https://www.linkedin.com/groups/1234/", ("LinkedIn group",)),
        ("https://www.linkedin.com/events/1234/", ("LinkedIn event",)),
        ("https://www.linkedin.com/newsletters/ai-weekly-1234/", ("LinkedIn newsletter",)),
        ("https://www.linkedin.com/", ("LinkedIn link but not to a person's profile", PASTE)),
        ("linkedin.com", ("LinkedIn link but not to a person's profile",)),
        ("linkedin.com/profile/view?id=1234", ("LinkedIn link but not to a person's profile",)),
        ("linkedin.com//in/anna-adams", ("LinkedIn link but not to a person's profile",)),
        ("linkedin.com?next=/in/anna-adams", ("LinkedIn link but not to a person's profile",)),
        ("https://lnkd.in/dXyZ12", ("LinkedIn short link", "open it", "leads to")),
        ("lnkd.in/dXyZ12", ("LinkedIn short link",)),
        ("https://example.com/in/anna-adams", ("link to example.com, not to LinkedIn", PASTE)),
        ("notlinkedin.com/in/anna-adams", ("link to notlinkedin.com, not to LinkedIn",)),
        ("linkedin.com.evil.io/in/anna-adams", ("link to linkedin.com.evil.io",)),
        ("https://linkedin.co/in/anna-adams", ("link to linkedin.co, not to LinkedIn",)),
        ("https://www.linkedin.cn/in/anna-adams", ("link to www.linkedin.cn",)),
        ("https://linked\u0131n.com/in/anna-adams", ("not to LinkedIn",)),
        ("https://LIN\u212aEDIN.COM/in/anna-adams", ("not to LinkedIn",)),
        ("https://linkedin.com@evil.io/in/anna-adams", ("is not a link", PASTE)),
        ("https://user:pw@linkedin.com/in/anna-adams", ("is not a link",)),
        ("Anna Adams", ("is not a link", PASTE)),
        ("anna-adams", ("is not a link",)),
        ("n/a", ("is not a link",)),
        ("TBD", ("is not a link",)),
        ("3.5", ("is not a link",)),
        ("in/anna-adams", ("is not a link",)),
        ("/in/anna-adams", ("is not a link",)),
        ("//linkedin.com/in/anna-adams", ("is not a link",)),
        ("https:/linkedin.com/in/anna-adams", ("is not a link",)),
        ("https//linkedin.com/in/anna-adams", ("is not a link",)),
        ("(linkedin.com/in/anna-adams)", ("is not a link",)),
        ("linkedin.com\\in\\anna-adams", ("is not a link",)),
        ("linkedin.com:https/in/anna-adams", ("is not a link",)),
        ("anna@example.com", ("is an e-mail address, not a link", PASTE)),
        ("mailto:anna@example.com", ("is an e-mail address",)),
        ("ftp://linkedin.com/in/anna-adams", ("not a web (http or https) link", PASTE)),
        ("linkedin.com/in/", ("no profile name after /in/", PASTE)),
        ("https://www.linkedin.com/in", ("no profile name after /in/",)),
        ("https://www.linkedin.com/in/?trk=x", ("no profile name after /in/",)),
        ("https://www.linkedin.com/in/#top", ("no profile name after /in/",)),
        ("linkedin.com/in/anna-adams.", ('ends with "."', "without the sentence's punctuation")),
        ("linkedin.com/in/anna-adams,", ('ends with ","',)),
        ("linkedin.com/in/anna-adams;/", ('ends with ";"',)),
        ("linkedin.com/in/anna%zzadams", ('a "%" not followed by two hex digits', "copy the")),
        ("linkedin.com/in/anna-adams%", ('a "%" not followed by two hex digits',)),
        ("linkedin.com/in/anna%C", ('a "%" not followed by two hex digits',)),
        ("linkedin.com/in/anna%C3%28", ("percent-encoded bytes that are not UTF-8",)),
        ("linkedin.com/in/anna%FF", ("percent-encoded bytes that are not UTF-8",)),
        ("linkedin.com/in/anna%C3", ("percent-encoded bytes that are not UTF-8",)),
        ("linkedin.com/in/anna%ED%A0%80", ("percent-encoded bytes that are not UTF-8",)),
        ("linkedin.com/in/anna%20adams", ("holds a space, percent-encoded",)),
        (
            "linkedin.com/in/anna%E2%80%8Badams",
            ("U+200B ZERO WIDTH SPACE), percent-encoded", "copy the link again"),
        ),
        ("linkedin.com/in/anna%0Aadams", ("a line break, percent-encoded",)),
        ("linkedin.com/in/anna adams", ("holds a space", "paste the profile link alone")),
        ("Anna: https://linkedin.com/in/anna-adams", ("holds a space",)),
        ("lnkd.in/abc (Anna)", ("holds a space",)),
    ],
)
def test_each_rejected_kind_says_what_it_is_and_what_to_paste(
    pasted: str, words: tuple[str, ...]
) -> None:
    """A link that is not a profile, or not a link, is refused with its kind in words,
    the value quoted as pasted and the remedy."""
    with pytest.raises(CellError) as caught:
        canonical_profile_url(pasted)
    message = str(caught.value)
    assert f'"{pasted.strip()}"' in message.replace('\\"', '"')
    for word in words:
        assert word in message


@pytest.mark.parametrize(
    ("pasted", "shown", "what"),
    [
        ("linkedin.com/in/anna\u200badams", "anna\\u200badams", "(U+200B ZERO WIDTH SPACE)"),
        ("linkedin.com/in/anna\ufeffadams", "anna\\ufeffadams", "(U+FEFF ZERO WIDTH NO-BREAK"),
        ("linkedin.com/in/anna\u00a0adams", "anna\\u00a0adams", "(U+00A0 NO-BREAK SPACE)"),
        ("linkedin.com/in/anna\u00adadams", "anna\\u00adadams", "(U+00AD SOFT HYPHEN)"),
        ("linkedin.com/in/anna\tadams", "anna\\tadams", "a tab"),
        ("linkedin.com/in/anna\nadams", "anna\\nadams", "a line break"),
        ("linkedin.com/in/anna\x00adams", "anna\\u0000adams", "(U+0000)"),
        ("linkedin.com/in/anna\ud800adams", "anna\\ud800adams", "(U+D800)"),
        ("linkedin.com\u200b/in/anna-adams", "linkedin.com\\u200b/in", "(U+200B"),
    ],
)
def test_a_hidden_character_inside_is_named_and_shown_escaped(
    pasted: str, shown: str, what: str
) -> None:
    """An invisible or look-alike character inside the text is refused, named by its code
    point, and shown escaped where it sits; around the text it is only trimmed."""
    with pytest.raises(CellError) as caught:
        canonical_profile_url(pasted)
    message = str(caught.value)
    assert shown in message
    assert what in message
    assert "copy the link again from the browser's address bar" in message


@pytest.mark.parametrize("pasted", ["", "   ", "\u200b", "\ufeff\u00a0\n", "<>", " < > "])
def test_an_empty_cell_is_refused(pasted: str) -> None:
    """A cell with nothing visible in it holds no link."""
    with pytest.raises(CellError, match="the cell holds no link; paste the person's profile"):
        canonical_profile_url(pasted)


def test_a_long_value_is_cut_short_in_the_message() -> None:
    """A long pasted link is quoted up to 80 characters, so a message stays one line."""
    pasted = "https://www.linkedin.com/company/acme/?" + "x" * 300
    with pytest.raises(CellError) as caught:
        canonical_profile_url(pasted)
    quoted = str(caught.value).split(" is a company page")[0]
    assert quoted == '"' + pasted[:77] + '..."'


@pytest.mark.parametrize(
    "canonical",
    [ANNA, PROFILE_PREFIX + "j%C3%BCrgen-m%C3%BCller", PROFILE_PREFIX + "i%CC%87stanbul"],
)
def test_a_canonical_url_is_its_own_canonical_form(canonical: str) -> None:
    """Canonical of canonical is itself."""
    assert canonical_profile_url(canonical) == canonical


SLUG_TEXT = st.text(
    st.characters(
        blacklist_categories=("Cc", "Cf", "Cs", "Zs", "Zl", "Zp"), blacklist_characters="/?#%"
    ),
    min_size=1,
    max_size=30,
).filter(lambda slug: slug[-1] not in ".,;:!")
PREFIXES = st.sampled_from(
    [
        "https://www.linkedin.com/in/",
        "http://linkedin.com/in/",
        "linkedin.com/in/",
        "M.LinkedIn.com/IN/",
        "de.linkedin.com/in/",
    ]
)
SUFFIXES = st.sampled_from(["", "/", "/details/experience/", "?trk=x", "#about", "/?a=b#c"])


def expected_slug(slug: str) -> str:
    """Decision 12 said another way: urllib's quoting of the NFC, lower-cased slug."""
    lowered = unicodedata.normalize("NFC", unicodedata.normalize("NFC", slug).lower())
    return quote(lowered, safe="-_").replace(".", "%2E").replace("~", "%7E")


@PROPERTIES
@given(SLUG_TEXT, PREFIXES, SUFFIXES, st.booleans())
def test_any_profile_link_gives_one_canonical_url_that_is_a_fixed_point(
    slug: str, prefix: str, suffix: str, encoded: bool
) -> None:
    """Any slug, pasted as text or percent-encoded, under any accepted prefix and suffix,
    gives the canonical URL urllib would quote, which is its own canonical form."""
    pasted = prefix + (quote(slug, safe="") if encoded else slug) + suffix
    canonical = canonical_profile_url(pasted)
    assert canonical == PROFILE_PREFIX + expected_slug(slug)
    assert CANONICAL.fullmatch(canonical)
    assert canonical_profile_url(canonical) == canonical


@PROPERTIES
@given(st.one_of(st.text(max_size=60), st.text(max_size=40).map("linkedin.com/in/".__add__)))
def test_any_text_is_a_canonical_url_or_a_cell_error(text: str) -> None:
    """Whatever a cell holds, the answer is a canonical URL (a fixed point) or a
    CellError, never another exception."""
    try:
        canonical = canonical_profile_url(text)
    except CellError:
        return
    assert CANONICAL.fullmatch(canonical)
    assert canonical_profile_url(canonical) == canonical


def answer(text: str) -> str:
    try:
        return canonical_profile_url(text)
    except CellError as error:
        return f"refused: {error}"


NEAR_COMMON = st.tuples(
    st.sampled_from(
        ["", "http://", "https://", "HTTPS://", "ftp://", "https://www.", "de.", "-x."]
    ),
    st.sampled_from(["linkedin.com", "LinkedIn.com", "linkedin.com.", "lnkd.in", "linkedin.co"]),
    st.sampled_from(["/in/", "/IN/", "/in//", "/pub/", ":443/in/", "/in/x/"]),
    st.text(st.sampled_from("aZ09_-.%~é!,"), max_size=12),
    st.sampled_from(["", "/", "//", "/details/", "?trk=x", "#about", "?a=b c", "?%zz"]),
).map("".join)


@PROPERTIES
@given(NEAR_COMMON)
def test_the_short_way_for_common_links_answers_as_the_long_way(text: str) -> None:
    """Common links are made canonical by one match (`_COMMON`); with that match turned
    off, every text near them gets the same URL or the same refusal."""
    short = answer(text)
    saved = linkedin._COMMON
    linkedin._COMMON = re.compile(r"(?!)")  # matches nothing: every link the long way
    try:
        long = answer(text)
    finally:
        linkedin._COMMON = saved
    assert short == long
