"""The country the programme runs in: the codes of the 89 constituent entities (subjects) of the
Russian Federation and the IANA time zones of its territory. Reference data that changes only
with a law (a new subject, a merger) or a time-zone reform, so it is kept here, versioned with
the code, rather than fetched (docs/adr/0041).
"""

from typing import Final

# The two-digit codes of the subjects as the Federal Tax Service numbers them: 01–79 in the order
# of the Constitution's list up to the Jewish autonomous oblast, the autonomous okrugs that were
# not merged (83 Nenets, 86 Khanty-Mansi, 87 Chukotka, 89 Yamalo-Nenets), 91 Crimea and
# 92 Sevastopol, 90 Zaporozhye, 93 Donetsk, 94 Luhansk and 95 Kherson. The codes of the okrugs
# merged in 2005–2008 (80, 81, 82, 84, 85, 88) name no subject any more.
REGION_CODES: Final = tuple(
    [f"{code:02d}" for code in range(1, 80)]
    + ["83", "86", "87", "89", "90", "91", "92", "93", "94", "95"]
)
assert len(REGION_CODES) == 89

# The IANA zones of the country's territory (the tz database's zone1970.tab, `RU`), west to east.
TIME_ZONES: Final = (
    "Europe/Kaliningrad",
    "Europe/Moscow",
    "Europe/Simferopol",
    "Europe/Kirov",
    "Europe/Volgograd",
    "Europe/Astrakhan",
    "Europe/Saratov",
    "Europe/Ulyanovsk",
    "Europe/Samara",
    "Asia/Yekaterinburg",
    "Asia/Omsk",
    "Asia/Novosibirsk",
    "Asia/Barnaul",
    "Asia/Tomsk",
    "Asia/Novokuznetsk",
    "Asia/Krasnoyarsk",
    "Asia/Irkutsk",
    "Asia/Chita",
    "Asia/Yakutsk",
    "Asia/Khandyga",
    "Asia/Vladivostok",
    "Asia/Ust-Nera",
    "Asia/Magadan",
    "Asia/Sakhalin",
    "Asia/Srednekolymsk",
    "Asia/Kamchatka",
    "Asia/Anadyr",
)
