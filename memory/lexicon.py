"""Word lists the deterministic extractor reads sentences with (memory/clauses.py).

Everything here is data: the verbs that state a relation and the relation they state, the
nouns that name a person around the speaker, professions, and the small closed classes
(determiners, prepositions, auxiliaries) that bound a noun phrase. Adding a verb or a role is
adding a line; no sentence of the labelled set is special-cased."""
from __future__ import annotations

# --- verb forms --------------------------------------------------------------------------
# lemma -> its inflected forms beyond the regular ones (-s, -ed, -ing) made below
_IRREGULAR: dict[str, tuple[str, ...]] = {
    "be": ("am", "is", "are", "was", "were", "been", "being", "'m", "'s", "'re"),
    "have": ("has", "had", "having", "'ve"),
    "do": ("does", "did", "done", "doing"),
    "speak": ("spoke", "spoken"), "drive": ("drove", "driven"), "drink": ("drank", "drunk"),
    "eat": ("ate", "eaten"), "teach": ("taught",), "know": ("knew", "known"), "buy": ("bought",),
    "sell": ("sold",), "leave": ("left",), "grow": ("grew", "grown"), "get": ("got", "gotten"),
    "go": ("went", "gone", "goes"), "run": ("ran", "running"), "quit": ("quitting",),
    "stop": ("stopped", "stopping"), "prefer": ("preferred", "preferring"), "bear": ("born", "bore"),
    "begin": ("began", "begun", "beginning"), "lead": ("led",), "study": ("studies", "studied"),
    "marry": ("married", "marries"), "come": ("came",), "become": ("became",), "make": ("made",),
    "divorce": ("divorced",), "win": ("won",),
}
VERBS = (
    "work live reside move relocate be come study teach marry like love adore enjoy hate dislike detest "
    "prefer know speak play use own have drive drink eat learn support manage lead run join start "
    "begin grow bear adopt buy get sell quit leave stop divorce go do become graduate"
).split()


def _forms(lemma: str) -> set[str]:
    forms = {lemma, *_IRREGULAR.get(lemma, ())}
    stem = lemma[:-1] if lemma.endswith("e") else lemma
    forms |= {lemma + "s" if not lemma.endswith(("s", "sh", "ch")) else lemma + "es", stem + "ed", stem + "ing"}
    return forms


LEMMA: dict[str, str] = {form: lemma for lemma in VERBS for form in _forms(lemma)}

# --- relation verbs -----------------------------------------------------------------------
# (lemma pattern, relation, destination type). Each pattern element is a lemma (verbs) or a
# plain word; "a?" marks an optional word. The longest pattern that matches wins.
VERB_RELATIONS: list[tuple[str, str, str]] = [
    ("work at", "WORKS_AT", "organisation"), ("work for", "WORKS_AT", "organisation"),
    ("work in", "WORKS_IN", "place"), ("work as", "WORKS_AS", "thing"),
    ("be employed at", "WORKS_AT", "organisation"),
    ("be employed by", "WORKS_AT", "organisation"), ("start at", "WORKS_AT", "organisation"),
    ("start work at", "WORKS_AT", "organisation"), ("begin work at", "WORKS_AT", "organisation"),
    ("start a? new? job at", "WORKS_AT", "organisation"), ("get a? new? job at", "WORKS_AT", "organisation"),
    ("join", "WORKS_AT", "organisation"),
    ("live in", "LIVES_IN", "place"), ("reside in", "LIVES_IN", "place"), ("be based in", "LIVES_IN", "place"),
    ("move to", "LIVES_IN", "place"), ("relocate to", "LIVES_IN", "place"), ("live near", "LIVES_NEAR", "place"),
    ("be from", "IS_FROM", "place"), ("come from", "IS_FROM", "place"), ("be bear in", "BORN_IN", "place"),
    ("grow up in", "GREW_UP_IN", "place"),
    ("study at", "STUDIES_AT", "organisation"), ("study", "STUDIES", "thing"),
    ("teach at", "TEACHES_AT", "organisation"), ("teach", "TEACHES", "thing"),
    ("be marry to", "IS_MARRIED_TO", "person"), ("get marry to", "IS_MARRIED_TO", "person"),
    ("marry", "IS_MARRIED_TO", "person"),
    ("like", "LIKES", "thing"), ("enjoy", "LIKES", "thing"), ("be into", "LIKES", "thing"),
    ("be fond of", "LIKES", "thing"), ("love", "LOVES", "thing"), ("adore", "LOVES", "thing"),
    ("hate", "DISLIKES", "thing"), ("dislike", "DISLIKES", "thing"), ("detest", "DISLIKES", "thing"),
    ("prefer", "PREFERS", "thing"), ("know", "KNOWS", "thing"), ("speak", "SPEAKS", "thing"),
    ("play", "PLAYS", "thing"), ("use", "USES", "thing"), ("drive", "DRIVES", "thing"),
    ("drink", "DRINKS", "thing"), ("eat", "EATS", "thing"), ("learn", "LEARNS", "thing"),
    ("support", "SUPPORTS", "thing"), ("manage", "MANAGES", "thing"), ("lead", "MANAGES", "thing"),
    ("run", "MANAGES", "thing"),
    ("own", "OWNS", "thing"), ("have", "OWNS", "thing"), ("adopt", "OWNS", "thing"), ("buy", "OWNS", "thing"),
    ("be a? big? huge? fan of", "LIKES", "thing"), ("graduate from", "GRADUATED_FROM", "organisation"),
    ("be allergic to", "ALLERGIC_TO", "thing"), ("be a? member of", "MEMBER_OF", "organisation"),
]
# verbs that end a state: the relation they retract, as if negated ("I sold my car")
ENDING_VERBS: list[tuple[str, str, str]] = [
    ("quit my? job at", "WORKS_AT", "organisation"), ("quit", "WORKS_AT", "organisation"),
    ("leave my? job at", "WORKS_AT", "organisation"), ("leave", "WORKS_AT", "organisation"),
    ("sell", "OWNS", "thing"), ("divorce", "IS_MARRIED_TO", "person"), ("move out of", "LIVES_IN", "place"),
]
# "stop V-ing X" retracts what "V X" states
STOP_VERBS = frozenset({"stop", "quit"})
# simple past of these states means the state is over: "Grace worked at the Navy"
PAST_STATES = {"WORKS_AT": "WORKED_AT", "LIVES_IN": "LIVED_IN", "STUDIES_AT": "STUDIED_AT"}
# a relation read from the verb, followed by a preposition, gives a second relation
TRAILING = {
    "WORKS_AS": {"at": ("WORKS_AT", "organisation"), "for": ("WORKS_AT", "organisation"),
                 "in": ("WORKS_IN", "place")},
    "WORKS_AT": {"as": ("WORKS_AS", "thing")},
    "MANAGES": {"at": ("WORKS_AT", "organisation")},
    "TEACHES": {"at": ("TEACHES_AT", "organisation")},
    "STUDIES": {"at": ("STUDIES_AT", "organisation")},
}
# "join X": a club is a membership, anything else an employer
GROUP_NOUNS = frozenset(
    "club team society group choir band gym league association union orchestra church community committee".split()
)

# --- people, professions, attributes ---------------------------------------------------------
ROLES = frozenset(
    """sister brother mother father mom mum dad son daughter wife husband partner girlfriend boyfriend
    fiance fiancé fiancee fiancée friend roommate flatmate housemate neighbour neighbor colleague coworker
    co-worker boss manager mentor teacher tutor coach doctor dentist therapist landlord landlady teammate
    cousin aunt uncle niece nephew grandmother grandfather grandma grandpa granddaughter grandson stepmother
    stepfather stepson stepdaughter child baby twin classmate supervisor assistant lawyer accountant
    physiotherapist trainer vet nanny babysitter carer caregiver godmother godfather stepsister stepbrother
    dog cat puppy kitten pet horse parrot rabbit hamster""".split()
)
ROLE_MODIFIERS = frozenset("best old older younger little big oldest youngest new close former ex twin".split())
PETS = frozenset("dog cat puppy kitten pet horse parrot rabbit hamster".split())
TITLES = frozenset("dr mr mrs ms miss prof professor sir dame st mt".split())  # keep their full stop
PERSON_TITLES = frozenset("dr mr mrs ms miss prof professor sir dame".split())
PROFESSIONS = frozenset(
    """engineer developer programmer designer nurse doctor physician surgeon teacher professor lecturer
    pilot architect pharmacist chemist physicist biologist scientist researcher analyst accountant lawyer
    attorney judge journalist writer author editor photographer artist painter musician singer actor
    actress dancer chef cook baker waiter waitress barista cashier clerk manager director consultant
    economist entrepreneur founder farmer electrician plumber carpenter mechanic technician driver
    paramedic firefighter police officer soldier veterinarian vet dentist therapist psychologist
    psychiatrist librarian translator interpreter student intern salesperson marketer recruiter
    administrator secretary receptionist tutor coach trainer midwife optometrist radiologist""".split()
)
ATTRIBUTES = frozenset(
    """vegetarian vegan pescatarian smoker nonsmoker non-smoker diabetic celiac coeliac lactose-intolerant
    left-handed right-handed introvert extrovert married single divorced widowed retired pregnant
    unemployed religious atheist muslim christian jewish hindu buddhist""".split()
)

# --- closed classes -------------------------------------------------------------------------
DETERMINERS = frozenset("a an the my our your his her their its this that these those some any".split())
QUANTIFIERS = (("a", "lot", "of"), ("lots", "of"), ("a", "bit", "of"), ("a", "little"), ("plenty", "of"),
               ("a", "couple", "of"), ("a", "few"), ("some",), ("both",), ("all",), ("my", "own"))
PREPOSITIONS = frozenset(
    """in at on for with near from to by over under about as after before until since during into onto
    through across around without within than like via per off out up down upon""".split()
)
CLAUSE_BREAKS = frozenset("but although though while whereas because so yet however since when where which who whom that if".split())
AUXILIARIES = frozenset("do does did have has had 've will would 'd can could shall should may might must".split())
ADVERBS = frozenset(
    """also really usually often always sometimes mostly mainly actually currently recently lately still just
    even definitely absolutely totally truly mostly generally normally basically honestly only kind sort
    very much too again already finally officially now""".split()
)
NEGATORS = frozenset("not n't never no".split())
PRONOUNS = frozenset(
    "it this that there here he she they we you who what which everyone someone nobody everybody one".split()
)
SPEAKER = frozenset({"i", "me"})
POSSESSIVE_SPEAKER = frozenset({"my", "our"})
# words that never belong in an object noun phrase
NP_STOP = PREPOSITIONS | CLAUSE_BREAKS | frozenset(
    """and or nor , ; : ! ? ( ) " a an the my our your his her their i me we you he she they it
    is am are was were be been do does did not n't never no every each too also very much anymore
    downtown here there home today tonight yesterday tomorrow lot bit please then again named called
    it them him her us me myself""".split()
)
