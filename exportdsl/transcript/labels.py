"""Every word the transcript shows, in each of its languages (`LANGUAGES`): one `Labels` a language.

Nothing here asks the process locale (output must be the same on every machine), and nothing is
assembled from English words: each language has its own sentences, its own date formats (Polish
and Czech name the month in the genitive in a date: "30 listopada", "30. listopadu") and its own
plural forms (Polish and Czech have three: 1 wiadomość, 2 wiadomości, 5 wiadomości; 1 zpráva,
2 zprávy, 5 zpráv).

System events are written twice: with the person's name, and without one. A fallback such as "an
agent" cannot simply be put in the name's place: in German and Czech it would need another case
("einem Agenten", "operátorovi"), and in Polish and Czech a past-tense verb agrees with its
subject's gender, which a bare name does not tell. So the Polish and Czech sentences name the role
("konsultant", "operátor") with the name beside it, and the verb agrees with the role.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from exportdsl.connector.transcript import LANGUAGES

__all__ = ["EVENT_CODES", "LABELS", "Labels", "Plural", "labels_for"]

# The Smartsupp event codes a system message may carry (its `content`); `{name}` is the message's
# `name`: the agent, or the visitor, concerned
EVENT_CODES = (
    "agent.join",
    "agent.leave",
    "agent.assign",
    "agent.unassign",
    "agent.transfer",
    "visitor.join",
    "visitor.leave",
    "close.visitorClose",
    "close.agentClose",
    "close.timeout",
    "close.system",
    "rating.create",
)


@dataclass(frozen=True, slots=True)
class Plural:
    """A noun's forms after a number: one (1), few (Polish and Czech 2-4) and many (the rest)."""

    one: str
    few: str
    many: str


def _english_plural(count: int) -> str:
    return "one" if count == 1 else "many"


def _polish_plural(count: int) -> str:
    """1 wiadomość; 2-4, 22-24, … wiadomości (not 12-14); 0, 5-21, 25-31, … wiadomości/słów."""
    if count == 1:
        return "one"
    if count % 10 in (2, 3, 4) and count % 100 not in (12, 13, 14):
        return "few"
    return "many"


def _czech_plural(count: int) -> str:
    """1 zpráva; 2-4 zprávy; 0 and 5 and more zpráv (22 zpráv too: Czech looks at the number)."""
    if count == 1:
        return "one"
    return "few" if 2 <= count <= 4 else "many"


@dataclass(frozen=True, slots=True)
class Labels:
    """The words of one language; `{…}` fields are filled in by the caller."""

    language: str
    title: str  # the default title
    subtitle: str  # {chat} {account} {zone} {offset}
    flags: Mapping[str, str]  # chat, completed, triggered, missed, offline, dropped
    rows: Mapping[str, str]  # the header's row labels
    not_rated: str
    rating: str  # {value}: a rating on Smartsupp's scale of 1 to 5
    rating_off_scale: str  # {value}: one outside it (bad data), shown as it came
    people_and_events: str  # {messages} {events}: the header's "Messages" value with events
    pages_heading: str  # {count}
    conversation_heading: str  # {counts}
    no_messages: str
    visitor_tag: str
    agent_tag: str
    triggered_tag: str  # {trigger}
    continued: str
    visitor_name: str  # authors without a name
    agent_name: str
    agent_numbered: str  # {id}
    automatic_message: str
    empty_message: str
    empty_event: str
    unknown_event: str  # {code}
    events: Mapping[str, tuple[str, str]]  # code -> (with {name}, without a name)
    footer: str
    page: str  # {number} {total}
    running: str  # {title} {chat} {visitor}: the running header from page 2
    running_visitor: str  # in the running header when the visitor has no name
    meta_title: str  # {title} {chat}
    meta_subject: str  # {chat} {visitor} {time}
    meta_author: str  # {account}
    weekdays: tuple[str, ...]  # Monday first
    weekdays_short: tuple[str, ...]
    months: tuple[str, ...]  # as a date names them (Polish and Czech: the genitive)
    months_short: tuple[str, ...]
    day_format: str  # the conversation's date lines; fields as `date_fields`
    full_format: str  # start and end of the chat, without the zone
    duration_units: tuple[str, str, str]  # hours, minutes, seconds
    decimal: str  # the decimal separator
    messages: Plural
    system_events: Plural
    words: Plural
    plural: Callable[[int], str]

    def count(self, count: int, noun: Plural) -> str:
        """``count`` and the noun's form for it: "5 zpráv"."""
        form = self.plural(count)
        return f"{count} {noun.one if form == 'one' else noun.few if form == 'few' else noun.many}"

    def number(self, value: float) -> str:
        """``4.0`` -> ``4``; ``4.5`` -> ``4.5`` (``4,5`` where the comma is the separator)."""
        text = str(int(value)) if value == int(value) else f"{value:g}"
        return text.replace(".", self.decimal)

    def day(self, moment: datetime) -> str:
        return self.day_format.format(**self.date_fields(moment))

    def full(self, moment: datetime) -> str:
        return self.full_format.format(**self.date_fields(moment))

    def date_fields(self, moment: datetime) -> dict[str, object]:
        return {
            "weekday": self.weekdays[moment.weekday()],
            "weekday_short": self.weekdays_short[moment.weekday()],
            "day": moment.day,
            "month": self.months[moment.month - 1],
            "month_short": self.months_short[moment.month - 1],
            "month_number": moment.month,
            "year": moment.year,
            "time": f"{moment:%H:%M:%S}",
        }

    def event(self, code: str, name: str) -> str | None:
        """A known event in words, with the person's name or without; None for another code."""
        sentences = self.events.get(code)
        if sentences is None:
            return None
        return sentences[0].format(name=name) if name else sentences[1]


_ENGLISH_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_ENGLISH_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

ENGLISH = Labels(
    language="en",
    title="Chat transcript",
    subtitle="Smartsupp chat {chat} · account {account} · times in {zone} ({offset})",
    flags={
        "chat": "Chat",
        "completed": "Completed",
        "triggered": "Triggered",
        "missed": "Missed",
        "offline": "Offline message",
        "dropped": "Dropped",
    },
    rows={
        "visitor": "Visitor",
        "email": "E-mail",
        "location": "Location",
        "ip": "IP address",
        "group": "Group",
        "note": "Note",
        "referrer": "Referrer",
        "platform": "Platform",
        "started": "Started",
        "ended": "Ended",
        "duration": "Duration",
        "first_response": "First response",
        "avg_response": "Avg. response",
        "rating": "Rating",
        "comment": "Comment",
        "messages": "Messages",
        "smartsupp_counts": "Smartsupp counts",
        "variables": "Variables",
        "browser": "Browser",
    },
    not_rated="Not rated",
    rating="{value} / 5",
    rating_off_scale="{value} (outside Smartsupp's scale of 1 to 5)",
    people_and_events="{messages} and {events}",
    pages_heading="Pages visited ({count})",
    conversation_heading="Conversation ({counts})",
    no_messages="No messages in this chat.",
    visitor_tag="visitor",
    agent_tag="agent",
    triggered_tag="triggered by {trigger}",
    continued="continued",
    visitor_name="Visitor",
    agent_name="Agent",
    agent_numbered="Agent {id}",
    automatic_message="Automatic message",
    empty_message="(empty message)",
    empty_event="(empty system message)",
    unknown_event="System event: {code}",
    events={
        "agent.join": ("{name} joined the chat", "An agent joined the chat"),
        "agent.leave": ("{name} left the chat", "An agent left the chat"),
        "agent.assign": ("The chat was assigned to {name}", "The chat was assigned to an agent"),
        "agent.unassign": (
            "{name} was unassigned from the chat",
            "An agent was unassigned from the chat",
        ),
        "agent.transfer": (
            "The chat was transferred to {name}",
            "The chat was transferred to an agent",
        ),
        "visitor.join": ("{name} started the chat", "The visitor started the chat"),
        "visitor.leave": ("{name} left the page", "The visitor left the page"),
        "close.visitorClose": ("Visitor closed the chat", "Visitor closed the chat"),
        "close.agentClose": ("{name} closed the chat", "An agent closed the chat"),
        "close.timeout": (
            "The chat was closed after a period of inactivity",
            "The chat was closed after a period of inactivity",
        ),
        "close.system": ("The chat was closed automatically", "The chat was closed automatically"),
        "rating.create": ("{name} rated the chat", "The visitor rated the chat"),
    },
    footer="Chat transcript exported by exportdsl",
    page="Page {number} of {total}",
    running="{title} · chat {chat} · {visitor}",
    running_visitor="visitor",
    meta_title="{title} {chat}",
    meta_subject="Smartsupp chat {chat} with {visitor}, {time}",
    meta_author="Smartsupp account {account}",
    weekdays=_ENGLISH_DAYS,
    weekdays_short=tuple(day[:3] for day in _ENGLISH_DAYS),
    months=_ENGLISH_MONTHS,
    months_short=tuple(month[:3] for month in _ENGLISH_MONTHS),
    day_format="{weekday} {day:02d} {month} {year}",
    full_format="{weekday_short} {day:02d} {month_short} {year}, {time}",
    duration_units=("h", "min", "s"),
    decimal=".",
    messages=Plural("message", "messages", "messages"),
    system_events=Plural("system event", "system events", "system events"),
    words=Plural("word", "words", "words"),
    plural=_english_plural,
)

GERMAN = Labels(
    language="de",
    title="Chatverlauf",
    subtitle="Smartsupp-Chat {chat} · Konto {account} · Zeiten in {zone} ({offset})",
    flags={
        "chat": "Chat",
        "completed": "Abgeschlossen",
        "triggered": "Automatisch gestartet",
        "missed": "Verpasst",
        "offline": "Offline-Nachricht",
        "dropped": "Abgebrochen",
    },
    rows={
        "visitor": "Besucher",
        "email": "E-Mail",
        "location": "Standort",
        "ip": "IP-Adresse",
        "group": "Gruppe",
        "note": "Notiz",
        "referrer": "Verweis",
        "platform": "Plattform",
        "started": "Beginn",
        "ended": "Ende",
        "duration": "Dauer",
        "first_response": "Erste Antwort",
        "avg_response": "Ø Antwortzeit",
        "rating": "Bewertung",
        "comment": "Kommentar",
        "messages": "Nachrichten",
        "smartsupp_counts": "Laut Smartsupp",
        "variables": "Variablen",
        "browser": "Browser",
    },
    not_rated="Nicht bewertet",
    rating="{value} / 5",
    rating_off_scale="{value} (außerhalb der Smartsupp-Skala von 1 bis 5)",
    people_and_events="{messages} und {events}",
    pages_heading="Besuchte Seiten ({count})",
    conversation_heading="Gespräch ({counts})",
    no_messages="Dieser Chat enthält keine Nachrichten.",
    visitor_tag="Besucher",
    agent_tag="Agent",
    triggered_tag="ausgelöst durch {trigger}",
    continued="Fortsetzung",
    visitor_name="Besucher",
    agent_name="Agent",
    agent_numbered="Agent {id}",
    automatic_message="Automatische Nachricht",
    empty_message="(leere Nachricht)",
    empty_event="(leere Systemnachricht)",
    unknown_event="Systemereignis: {code}",
    events={
        "agent.join": ("{name} ist dem Chat beigetreten", "Ein Agent ist dem Chat beigetreten"),
        "agent.leave": ("{name} hat den Chat verlassen", "Ein Agent hat den Chat verlassen"),
        "agent.assign": (
            "Der Chat wurde {name} zugewiesen",
            "Der Chat wurde einem Agenten zugewiesen",
        ),
        "agent.unassign": (
            "Die Zuweisung an {name} wurde aufgehoben",
            "Die Zuweisung an einen Agenten wurde aufgehoben",
        ),
        "agent.transfer": (
            "Der Chat wurde an {name} übergeben",
            "Der Chat wurde an einen Agenten übergeben",
        ),
        "visitor.join": ("{name} hat den Chat begonnen", "Der Besucher hat den Chat begonnen"),
        "visitor.leave": (
            "{name} hat die Seite verlassen",
            "Der Besucher hat die Seite verlassen",
        ),
        "close.visitorClose": (
            "Der Besucher hat den Chat beendet",
            "Der Besucher hat den Chat beendet",
        ),
        "close.agentClose": ("{name} hat den Chat beendet", "Ein Agent hat den Chat beendet"),
        "close.timeout": (
            "Der Chat wurde wegen Inaktivität beendet",
            "Der Chat wurde wegen Inaktivität beendet",
        ),
        "close.system": (
            "Der Chat wurde automatisch beendet",
            "Der Chat wurde automatisch beendet",
        ),
        "rating.create": ("{name} hat den Chat bewertet", "Der Besucher hat den Chat bewertet"),
    },
    footer="Chatverlauf, exportiert von exportdsl",
    page="Seite {number} von {total}",
    running="{title} · Chat {chat} · {visitor}",
    running_visitor="Besucher",
    meta_title="{title} {chat}",
    meta_subject="Smartsupp-Chat {chat} mit {visitor}, {time}",
    meta_author="Smartsupp-Konto {account}",
    weekdays=(
        "Montag",
        "Dienstag",
        "Mittwoch",
        "Donnerstag",
        "Freitag",
        "Samstag",
        "Sonntag",
    ),
    weekdays_short=("Mo.", "Di.", "Mi.", "Do.", "Fr.", "Sa.", "So."),
    months=(
        "Januar",
        "Februar",
        "März",
        "April",
        "Mai",
        "Juni",
        "Juli",
        "August",
        "September",
        "Oktober",
        "November",
        "Dezember",
    ),
    months_short=(
        "Jan.",
        "Feb.",
        "März",
        "Apr.",
        "Mai",
        "Juni",
        "Juli",
        "Aug.",
        "Sept.",
        "Okt.",
        "Nov.",
        "Dez.",
    ),
    day_format="{weekday}, {day}. {month} {year}",
    full_format="{weekday_short}, {day:02d}.{month_number:02d}.{year}, {time}",
    duration_units=("Std.", "Min.", "Sek."),
    decimal=",",
    messages=Plural("Nachricht", "Nachrichten", "Nachrichten"),
    system_events=Plural("Systemereignis", "Systemereignisse", "Systemereignisse"),
    words=Plural("Wort", "Wörter", "Wörter"),
    plural=_english_plural,
)

POLISH = Labels(
    language="pl",
    title="Zapis czatu",
    subtitle="Czat Smartsupp {chat} · konto {account} · czas w strefie {zone} ({offset})",
    flags={
        "chat": "Czat",
        "completed": "Zakończony",
        "triggered": "Rozpoczęty automatycznie",
        "missed": "Nieodebrany",
        "offline": "Wiadomość offline",
        "dropped": "Przerwany",
    },
    rows={
        "visitor": "Odwiedzający",
        "email": "E-mail",
        "location": "Lokalizacja",
        "ip": "Adres IP",
        "group": "Grupa",
        "note": "Notatka",
        "referrer": "Strona odsyłająca",
        "platform": "Platforma",
        "started": "Początek",
        "ended": "Koniec",
        "duration": "Czas trwania",
        "first_response": "Pierwsza odpowiedź",
        "avg_response": "Śr. czas odpowiedzi",
        "rating": "Ocena",
        "comment": "Komentarz",
        "messages": "Wiadomości",
        "smartsupp_counts": "Według Smartsupp",
        "variables": "Zmienne",
        "browser": "Przeglądarka",
    },
    not_rated="Brak oceny",
    rating="{value} / 5",
    rating_off_scale="{value} (poza skalą Smartsupp od 1 do 5)",
    people_and_events="{messages} i {events}",
    pages_heading="Odwiedzone strony ({count})",
    conversation_heading="Rozmowa ({counts})",
    no_messages="Ten czat nie zawiera wiadomości.",
    visitor_tag="odwiedzający",
    agent_tag="konsultant",
    triggered_tag="wyzwalacz: {trigger}",
    continued="ciąg dalszy",
    visitor_name="Odwiedzający",
    agent_name="Konsultant",
    agent_numbered="Konsultant {id}",
    automatic_message="Wiadomość automatyczna",
    empty_message="(pusta wiadomość)",
    empty_event="(pusta wiadomość systemowa)",
    unknown_event="Zdarzenie systemowe: {code}",
    events={
        "agent.join": ("Do czatu dołączył konsultant {name}", "Do czatu dołączył konsultant"),
        "agent.leave": ("Czat opuścił konsultant {name}", "Czat opuścił konsultant"),
        "agent.assign": (
            "Czat przypisano konsultantowi {name}",
            "Czat przypisano konsultantowi",
        ),
        "agent.unassign": (
            "Cofnięto przypisanie czatu konsultantowi {name}",
            "Cofnięto przypisanie czatu konsultantowi",
        ),
        "agent.transfer": (
            "Czat przekazano konsultantowi {name}",
            "Czat przekazano innemu konsultantowi",
        ),
        "visitor.join": ("Czat rozpoczął odwiedzający {name}", "Odwiedzający rozpoczął czat"),
        "visitor.leave": ("Stronę opuścił odwiedzający {name}", "Odwiedzający opuścił stronę"),
        "close.visitorClose": ("Odwiedzający zakończył czat", "Odwiedzający zakończył czat"),
        "close.agentClose": ("Czat zakończył konsultant {name}", "Konsultant zakończył czat"),
        "close.timeout": (
            "Czat zamknięto z powodu braku aktywności",
            "Czat zamknięto z powodu braku aktywności",
        ),
        "close.system": ("Czat zamknięto automatycznie", "Czat zamknięto automatycznie"),
        "rating.create": ("Czat ocenił odwiedzający {name}", "Odwiedzający ocenił czat"),
    },
    footer="Zapis czatu wyeksportowany przez exportdsl",
    page="Strona {number} z {total}",
    running="{title} · czat {chat} · {visitor}",
    running_visitor="odwiedzający",
    meta_title="{title} {chat}",
    meta_subject="Czat Smartsupp {chat}, odwiedzający: {visitor}, {time}",
    meta_author="Konto Smartsupp {account}",
    weekdays=(
        "poniedziałek",
        "wtorek",
        "środa",
        "czwartek",
        "piątek",
        "sobota",
        "niedziela",
    ),
    weekdays_short=("pon.", "wt.", "śr.", "czw.", "pt.", "sob.", "niedz."),
    months=(  # the genitive, as a date names the month: "30 listopada 2024"
        "stycznia",
        "lutego",
        "marca",
        "kwietnia",
        "maja",
        "czerwca",
        "lipca",
        "sierpnia",
        "września",
        "października",
        "listopada",
        "grudnia",
    ),
    months_short=(
        "sty",
        "lut",
        "mar",
        "kwi",
        "maj",
        "cze",
        "lip",
        "sie",
        "wrz",
        "paź",
        "lis",
        "gru",
    ),
    day_format="{weekday} {day} {month} {year}",
    full_format="{weekday_short} {day:02d}.{month_number:02d}.{year}, {time}",
    duration_units=("godz.", "min", "s"),
    decimal=",",
    messages=Plural("wiadomość", "wiadomości", "wiadomości"),
    system_events=Plural("zdarzenie systemowe", "zdarzenia systemowe", "zdarzeń systemowych"),
    words=Plural("słowo", "słowa", "słów"),
    plural=_polish_plural,
)

CZECH = Labels(
    language="cs",
    title="Přepis chatu",
    subtitle="Chat Smartsupp {chat} · účet {account} · časy v pásmu {zone} ({offset})",
    flags={
        "chat": "Chat",
        "completed": "Dokončený",
        "triggered": "Zahájený automaticky",
        "missed": "Zmeškaný",
        "offline": "Offline zpráva",
        "dropped": "Přerušený",
    },
    rows={
        "visitor": "Návštěvník",
        "email": "E-mail",
        "location": "Poloha",
        "ip": "IP adresa",
        "group": "Skupina",
        "note": "Poznámka",
        "referrer": "Odkazující stránka",
        "platform": "Platforma",
        "started": "Začátek",
        "ended": "Konec",
        "duration": "Doba trvání",
        "first_response": "První odpověď",
        "avg_response": "Prům. odezva",
        "rating": "Hodnocení",
        "comment": "Komentář",
        "messages": "Zprávy",
        "smartsupp_counts": "Podle Smartsuppu",
        "variables": "Proměnné",
        "browser": "Prohlížeč",
    },
    not_rated="Nehodnoceno",
    rating="{value} / 5",
    rating_off_scale="{value} (mimo škálu Smartsuppu od 1 do 5)",
    people_and_events="{messages} a {events}",
    pages_heading="Navštívené stránky ({count})",
    conversation_heading="Konverzace ({counts})",
    no_messages="Tento chat neobsahuje žádné zprávy.",
    visitor_tag="návštěvník",
    agent_tag="operátor",
    triggered_tag="spouštěč: {trigger}",
    continued="pokračování",
    visitor_name="Návštěvník",
    agent_name="Operátor",
    agent_numbered="Operátor {id}",
    automatic_message="Automatická zpráva",
    empty_message="(prázdná zpráva)",
    empty_event="(prázdná systémová zpráva)",
    unknown_event="Systémová událost: {code}",
    events={
        "agent.join": ("K chatu se připojil operátor {name}", "K chatu se připojil operátor"),
        "agent.leave": ("Chat opustil operátor {name}", "Chat opustil operátor"),
        "agent.assign": ("Chat byl přidělen operátorovi {name}", "Chat byl přidělen operátorovi"),
        "agent.unassign": (
            "Přidělení chatu operátorovi {name} bylo zrušeno",
            "Přidělení chatu operátorovi bylo zrušeno",
        ),
        "agent.transfer": (
            "Chat byl předán operátorovi {name}",
            "Chat byl předán jinému operátorovi",
        ),
        "visitor.join": ("Chat zahájil návštěvník {name}", "Návštěvník zahájil chat"),
        "visitor.leave": ("Stránku opustil návštěvník {name}", "Návštěvník opustil stránku"),
        "close.visitorClose": ("Návštěvník ukončil chat", "Návštěvník ukončil chat"),
        "close.agentClose": ("Chat ukončil operátor {name}", "Operátor ukončil chat"),
        "close.timeout": ("Chat byl ukončen kvůli nečinnosti", "Chat byl ukončen kvůli nečinnosti"),
        "close.system": ("Chat byl automaticky ukončen", "Chat byl automaticky ukončen"),
        "rating.create": ("Chat ohodnotil návštěvník {name}", "Návštěvník ohodnotil chat"),
    },
    footer="Přepis chatu exportovaný nástrojem exportdsl",
    page="Strana {number} z {total}",
    running="{title} · chat {chat} · {visitor}",
    running_visitor="návštěvník",
    meta_title="{title} {chat}",
    meta_subject="Chat Smartsupp {chat}, návštěvník: {visitor}, {time}",
    meta_author="Účet Smartsupp {account}",
    weekdays=("pondělí", "úterý", "středa", "čtvrtek", "pátek", "sobota", "neděle"),
    weekdays_short=("po", "út", "st", "čt", "pá", "so", "ne"),
    months=(  # the genitive, as a date names the month: "30. listopadu 2024"
        "ledna",
        "února",
        "března",
        "dubna",
        "května",
        "června",
        "července",
        "srpna",
        "září",
        "října",
        "listopadu",
        "prosince",
    ),
    months_short=(
        "led",
        "úno",
        "bře",
        "dub",
        "kvě",
        "čvn",
        "čvc",
        "srp",
        "zář",
        "říj",
        "lis",
        "pro",
    ),
    day_format="{weekday} {day}. {month} {year}",
    full_format="{weekday_short} {day}. {month_number}. {year}, {time}",
    duration_units=("h", "min", "s"),
    decimal=",",
    messages=Plural("zpráva", "zprávy", "zpráv"),
    system_events=Plural("systémová událost", "systémové události", "systémových událostí"),
    words=Plural("slovo", "slova", "slov"),
    plural=_czech_plural,
)

LABELS: Mapping[str, Labels] = {
    labels.language: labels for labels in (ENGLISH, GERMAN, POLISH, CZECH)
}
if set(LABELS) != set(LANGUAGES) or any(set(t.events) != set(EVENT_CODES) for t in LABELS.values()):
    raise AssertionError("every language of LANGUAGES needs labels, and every event its sentence")


def labels_for(language: str) -> Labels:
    """The labels of a checked language (`check_language`)."""
    return LABELS[language]
