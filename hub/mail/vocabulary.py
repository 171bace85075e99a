"""The words of the referral form: section names, label synonyms and where each one goes.

Read together, because they are one vocabulary: a label added for the victim may also be
a top-level label, and each table is matched after :func:`hub.mail.values.label_key`
(lower case, punctuation dropped: "D.O.B." is "dob"). The synonyms are the ones police
forms and officers' own mail actually use (DESIGN.md, "Referral form").
"""

from __future__ import annotations

import re


def _keys(*labels: str) -> frozenset[str]:
    return frozenset(labels)


def _table(spec: dict[str, frozenset[str]]) -> dict[str, str]:
    """Invert {target: synonyms} into {synonym: target}."""
    return {synonym: target for target, synonyms in spec.items() for synonym in synonyms}


# A summary is both a section ("== Summary ==") and a top-level label ("Summary: ...").
_SUMMARY = _keys(
    "summary", "incident summary", "summary of incident", "brief summary",
    "circumstances", "narrative", "summary of concerns", "details of incident",
)  # fmt: skip

# Section markers: {label key: section}.
SECTIONS = _table(
    {
        "main": _keys(
            "referral", "marrac referral", "marac referral", "marrac", "marac", "risk",
            "marrac referral form", "marac referral form", "referral form", "dash",
        ),
        "referrer": _keys("referrer", "referring officer", "officer", "referred by"),
        "incident": _keys("incident", "incident details", "the incident"),
        "victim": _keys("victim", "victims", "adult victim", "person at risk", "survivor"),
        "perpetrator": _keys(
            "perpetrator", "perpetrators", "alleged perpetrator", "perp", "suspect",
            "offender", "alleged offender", "abuser",
        ),
        "child": _keys("child", "dependant"),
        "children": _keys(
            "children", "dependants", "children in household", "children in the household",
        ),
        "summary": _SUMMARY,
    }
)  # fmt: skip
# Characters that decorate a marker line ("== Victim ==", "** Victim **", "[Victim]").
DECORATION = " \t=#*[]-_~|:"
SECTION_SUFFIXES = (" details", " information", " info", " section")
# "Child 2", "Child no 2": the number of a numbered section.
TRAILING_NUMBER = re.compile(r"\s*(?:no\s*)?\d{1,2}$")

# Top-level labels: {label key: referral field}.
MAIN = _table(
    {
        "force_reference": _keys(
            "force reference", "force ref", "force ref no", "force reference number",
            "police reference", "police ref", "reference", "reference number", "ref",
            "ref no", "crime reference", "crime reference number", "crime ref",
            "crime number", "occurrence number", "occurrence reference",
        ),
        "referral_reason": _keys(
            "referral reason", "reason for referral", "reason", "referral criteria",
        ),
        "dash_score": _keys(
            "dash score", "dash", "dash total", "total dash score", "dash risk score",
            "dash ric score", "ric score", "risk score", "number of ticks", "dash ticks",
        ),
        "risk_level": _keys(
            "risk level", "risk", "dash risk level", "risk rating", "risk grading",
            "level of risk", "dash risk", "assessed risk",
        ),
        "division": _keys("division", "police division"),
        "area": _keys("area", "district", "local area", "policing area"),
        "incident_date": _keys(
            "incident date", "date of incident", "incident date time",
            "incident date and time", "date and time of incident", "date time of incident",
            "incident datetime", "incident when",
        ),
        "incident_time": _keys("incident time", "time of incident"),
        "incident_location": _keys(
            "incident location", "location of incident", "location", "incident address",
            "address of incident", "place of incident", "incident place",
        ),
        "children_present": _keys(
            "children present", "children present at incident",
            "children present at the incident", "were children present",
            "any children present", "child present", "children at incident",
        ),
        "summary": _SUMMARY,
    }
)  # fmt: skip
# Main labels that mean the same inside a person section ("Risk level" under the victim).
GLOBAL = frozenset(
    key
    for key, target in MAIN.items()
    if target not in ("area", "division", "referral_reason") and key not in ("location", "reason")
)
# Labels of the "== Incident ==" section: {label key: referral field}.
INCIDENT = _table(
    {
        "incident_date": _keys("date", "date and time", "date time", "when", "datetime"),
        "incident_time": _keys("time",),
        "incident_location": _keys("location", "place", "where", "address"),
    }
)  # fmt: skip
# Labels of the referrer: {label key: referrer field}; "" is a bare "Referrer: name".
REFERRER = _table(
    {
        "name": _keys("", "name", "full name", "officer name", "officer"),
        "email": _keys("email", "email address", "e mail", "e mail address", "mail"),
        "phone": _keys(
            "phone", "tel", "telephone", "mobile", "phone number", "telephone number",
            "contact number", "tel no", "phone no", "number",
        ),
    }
)  # fmt: skip
# Labels of a person: {label key: person field}; "" is a bare "Victim: name".
PERSON = _table(
    {
        "name": _keys("", "name", "names", "full name", "full names", "person name"),
        "forename": _keys(
            "forename", "forenames", "first name", "first names", "given name",
            "given names", "christian name",
        ),
        "surname": _keys("surname", "last name", "family name"),
        "date_of_birth": _keys(
            "date of birth", "dob", "birth date", "born", "birthday", "date of birth age",
        ),
        "gender": _keys("gender", "sex"),
        "address": _keys(
            "address", "home address", "current address", "residential address",
            "address line 1", "full address",
        ),
        "postcode": _keys("postcode", "post code", "postal code"),
        "phone": _keys(
            "phone", "tel", "telephone", "mobile", "phone number", "telephone number",
            "mobile number", "contact number", "tel no", "phone no", "mobile no",
        ),
    }
)  # fmt: skip
# Details keys the JSON form and the text form should agree on.
DETAIL_ALIASES = {
    "relationship": "relationship_to_victim",
    "relationship_to_the_victim": "relationship_to_victim",
    "relationship_with_victim": "relationship_to_victim",
    "present": "present_at_incident",
    "present_at_the_incident": "present_at_incident",
    "in_custody": "custody",
}
# Label prefixes that name whose field it is ("Victim DOB", "Child 2 name", "Referrer tel").
ROLE_PREFIXES = (
    ("alleged perpetrator", "perpetrator"),
    ("perpetrators", "perpetrator"),
    ("perpetrator", "perpetrator"),
    ("perp", "perpetrator"),
    ("suspect", "perpetrator"),
    ("offender", "perpetrator"),
    ("victims", "victim"),
    ("victim", "victim"),
    ("referrers", "referrer"),
    ("referrer", "referrer"),
    ("referring officer", "referrer"),
    ("referred by", "referrer"),
    ("officer", "referrer"),
)
# The first words of every prefix: a cheap test before trying them one by one.
PREFIX_WORDS = frozenset(
    [prefix.split()[0] for prefix, _ in ROLE_PREFIXES] + ["child", "childs", "children"]
)
CHILD_PREFIX = re.compile(r"(?:child|childs|children)(?: (\d{1,2}))?(?: (.*))?$")
# "Children present" is a top-level question, not a child's field.
CHILD_PREFIX_EXCEPTIONS = frozenset(("present", "present at incident"))
# Lines that start a forwarded mail in the body (Outlook, Apple Mail, Gmail, French Outlook).
FORWARD_SEPARATOR = re.compile(
    r"-{2,} ?(?:forwarded message|original message|message transféré) ?-*"
    r"|begin forwarded message:?|forwarded message:?",
    re.IGNORECASE,
)
# Header lines a mail client writes under a forward separator.
FORWARD_HEADERS = frozenset(
    ("from", "sent", "date", "to", "cc", "bcc", "subject", "reply to", "importance")
)
# Fields whose value may run on to the next line (an address typed over two lines).
CONTINUED = frozenset(("address", "incident_location", "referral_reason"))
