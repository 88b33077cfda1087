"""Intent of a question: read from how it asks, not from what it names (pure)."""

from __future__ import annotations

import pytest

from kb_service.profiles import load_profile
from kb_service.text.options import OptionCatalog
from kb_service.understand.intent import asks_measure, classify, counted_words

CATALOG = OptionCatalog(load_profile("journey-optimizer"))


@pytest.mark.parametrize(
    "question, lang, intent",
    [
        ("We're a ski resort and email every pass holder the opening date. Journey or campaign?", "en", "choose"),
        ("which approach for cart abandonment?", "en", "choose"),
        ("On est une école. Plutôt parcours ou campagne ?", "fr", "choose"),
        ("How do I set up a journey for new subscribers?", "en", "howto"),
        ("comment créer une campagne orchestrée ?", "fr", "howto"),
        ("What's a Read Audience journey?", "en", "whatis"),
        ("quelle est la différence entre un parcours et une campagne orchestrée ?", "fr", "whatis"),
        ("Can I convert a campaign into a journey?", "en", "can"),
        # Chat is lower case: the last sentence is the ask even without a capital after the stop.
        ("alumni office. the dean wants to know precisely how many alumni will receive it. what should we use for that?",
         "en", "choose"),
        ("just a holiday email on a set date, nothing fancy. what's the right tool?", "en", "choose"),
        ("a guest with 2 reservations should get 2 separate emails. what do we build that with?", "en", "choose"),
        ("our backend has to get the reset email out. What kind of setup do I need?", "en", "choose"),
        ("Alertes de stock bas aux clients intéressés, je pars sur quoi ?", "fr", "choose"),
        ("what's the simplest way to send a single message to an audience?", "en", "choose"),
        # an "or" that joins two conversions, not the options, sets nothing side by side
        ("Can I convert an existing campaign into a journey, or the other way round?", "en", "can"),
        ("Should we build this as a journey or as an action campaign?", "en", "choose"),
        # how to find a figure out, not the figure
        ("how can I see how many people are in my journey right now, and at which step?", "en", "howto"),
        ("how many people are in my journey right now?", "en", "quantity"),
        # the recommended way to do a task asks how
        ("We keep loyalty points in a CRM. What's the recommended way to use that data in a journey?", "en", "howto"),
        # "to work on" is a task, "does it work with" asks yes or no
        ("what permissions does a user need to work on API-triggered campaigns?", "en", "other"),
        # a name between "which" and "option"
        ("We need the exact number of recipients before sending. Which AJO option gives us that?", "en", "choose"),
        # what to use, asked with a modal verb
        ("Qu'est-ce que je dois utiliser pour une relance des paniers abandonnés ?", "fr", "choose"),
        ("Qu'est-ce qu'on devrait prendre pour la newsletter mensuelle ?", "fr", "choose"),
        ("What range of values can I use for a reaction event timeout?", "en", "quantity"),
        # "vs" between the guide's options is a choice; between two other things, a difference.
        ("journey vs campaign for a birthday email?", "en", "choose"),
        ("test mode vs dry run", "en", "whatis"),
        ("read audience journey or unitary journey for a monthly newsletter?", "en", "choose"),
        ("Panne ce soir : il faut prévenir tous les clients. Quel type d'envoi utiliser ?", "fr", "choose"),
        ("les campagnes déclenchées par API font des tests A/B ?", "fr", "can"),
        ("what's the maximum duration of a wait activity?", "en", "quantity"),
        ("how many emails do you recommend in a welcome series?", "en", "quantity"),
        ("wait activity", "en", "other"),
        # Asking words that point at the options already named, or at "something else".
        ("our logistics platform sends 'parcel shipped' messages - which of the two fits?", "en", "choose"),
        ("Which of those campaign kinds fits?", "en", "choose"),
        ("and for a one-off announcement to all customers - same thing or something else?", "en", "choose"),
        ("et pour une annonce ponctuelle, pareil ou autre chose ?", "fr", "choose"),
        # "what would you set up" asks for advice, "how do we set up" for steps.
        ("The outreach should ramp up step by step. What would you set up for that?", "en", "choose"),
        ("how do we set up a welcome journey?", "en", "howto"),
        # Asking which one kind of an option chooses; asking for the kinds lists them.
        ("the app backend must ask for the reset email. Which campaign type?", "en", "choose"),
        ("quel type de campagne pour un anniversaire ?", "fr", "choose"),
        ("what campaign types are there?", "en", "other"),
        # A kind of one option is not a choice between the guide's options.
        ("which journey type should we start with?", "en", "other"),
        # Asking which things of one kind can be used is a list, not a choice of option.
        ("which channels can I use in an orchestrated campaign?", "en", "can"),
        ("which campaigns should we use for fraud alerts?", "en", "choose"),
        ("which channel should I use for an urgent message?", "en", "other"),
        ("What timeout should I use before the reminder?", "en", "other"),
        # "qui" inside a sentence joins a clause; the question is still asked by intonation.
        ("Pour celles qui sont planifiées, les messages transactionnels ont besoin d'un opt-in ?", "fr", "can"),
        ("Et où est-ce que je consulte les résultats ensuite ?", "fr", "howto"),
        # The steps or the process of doing something: how to do it.
        ("how do i give a colleague access? what are the steps to assign the role?", "en", "howto"),
        ("What's the process for making structural changes to a live journey?", "en", "howto"),
        ("Once my action campaign is active, am I still able to edit it?", "en", "can"),
        # "limit" as a verb asks what, not how much.
        ("what does journey capping actually limit?", "en", "whatis"),
        ("what is the limit of journey capping?", "en", "quantity"),
        ("quels types de campagnes existent ?", "fr", "other"),
        # French ways of asking what to use.
        ("Notre logiciel d'entrepôt sait quand un colis part. Que faut-il utiliser ?", "fr", "choose"),
        ("Notre facturation doit déclencher un message. Quelle solution dans AJO ?", "fr", "choose"),
        ("un mail par réservation. c'est quoi le mieux ?", "fr", "choose"),
        ("les notifs d'expédition de notre outil logistique, je les monte dans quoi ?", "fr", "choose"),
        ("On veut relancer les abonnés inactifs. Qu'est-ce qu'on utilise ?", "fr", "choose"),
        ("Qu'est-ce qu'une campagne orchestrée ?", "fr", "whatis"),
        # Options listed with commas or a slash are set side by side as with "or".
        ("one schedule email per course enrollment. journey, campaign, something else?", "en", "choose"),
        # Options asked one after the other as questions of a word or two.
        ("We're launching our app and want to tell all subscribers. Journey? Action campaign? Orchestrated campaign?",
         "en", "choose"),
        ("fraud engine pings the customer at once. Which campaign/journey type is meant for that?", "en", "choose"),
        ("journey, action campaign: what are they?", "en", "whatis"),
        # Which one feature, or what kind of one group's member, does the job.
        ("a pickup reminder for each reservation. which AJO feature does that?", "en", "choose"),
        ("which features does an orchestrated campaign have?", "en", "other"),
        ("we notify the affected customers once. What kind of campaign is that?", "en", "choose"),
        ("un rappel par réservation : quelle fonctionnalité permet ça ?", "fr", "choose"),
        # What to build, asked of the verb; which of the options named.
        ("we send the same digest to every member each week. what should we set that up as?", "en", "choose"),
        ("relance automatique si pas d'ouverture sous 3 jours : on crée quoi ?", "fr", "choose"),
        ("alertes de fraude en temps réel, je choisis quoi ?", "fr", "choose"),
        ("Which of journeys or orchestrated campaigns handles one message per booking?", "en", "choose"),
        ("which of the channels work with journeys?", "en", "can"),
        # Whether the need told before is one option's job.
        ("members who reach Gold get a congratulation, then a follow-up a week later. Is that a journey?", "en", "choose"),
        ("une newsletter mensuelle à tous les abonnés, c'est une campagne d'action ?", "fr", "choose"),
        ("Is a journey able to send SMS?", "en", "can"),
    ],
)
def test_intents(question, lang, intent):
    assert classify(question, lang, CATALOG) == intent


def test_without_a_profile_choice_still_comes_from_asking_words():
    empty = OptionCatalog(None)
    assert classify("which option should we use for invoices?", "en", empty) == "choose"
    assert classify("how do I export a report?", "en", empty) == "howto"


def test_two_instances_of_one_option_are_not_a_choice_between_options():
    question = "If a profile is active in journey B and a Jump in journey A sends them to B, do they enter B again or does the Jump error?"
    assert classify(question, "en", CATALOG) != "choose"


def test_an_invoice_or_a_billing_system_is_not_a_question_about_price():
    from kb_service.understand.intent import asks_price
    assert not asks_price("Notre système de facturation doit déclencher un SMS quand une facture est disponible.", "fr")
    assert asks_price("combien est facturé un SMS ?", "fr")
    # A price in the asker's scenario is their business, not what they ask.
    assert not asks_price("Quand le prix d'un produit baisse, on veut prévenir les gens qui l'ont mis en favori. "
                          "Parcours ou campagne ?", "fr")
    assert asks_price("On veut prévenir nos clients. Quel est le prix d'un SMS ?", "fr")


@pytest.mark.parametrize(
    "question, lang, quantity, measure",
    [
        ("how long can a profile stay in a journey?", "en", True, "duration"),
        ("combien de temps un profil reste-t-il dans un parcours ?", "fr", True, "duration"),
        ("What's the default reading rate of the activity, in profiles per second?", "en", False, "rate"),
        ("quel est le débit maximal ?", "fr", True, "rate"),
        ("max size of a journey instance?", "en", True, "size"),
        ("how often are batch audiences evaluated?", "en", True, "frequency"),
        ("À quelle fréquence peut-on ingérer des données ?", "fr", True, "frequency"),
        ("What is the default profiles-per-second reading rate of the activity?", "en", False, "rate"),
        ("Quelle est la taille maximale du contenu ?", "fr", False, "size"),
        # A word naming a measure is a feature's name outside a quantity question.
        ("What is rate control in campaigns good for?", "en", False, ""),
        ("how many journeys can I have?", "en", True, ""),
        # The docs answer "how fast" in words ("in real time"): no figure is required.
        ("How quickly does a streaming audience pick up profile changes?", "en", False, ""),
    ],
)
def test_the_measure_an_ask_wants(question, lang, quantity, measure):
    assert asks_measure(question, lang, quantity=quantity) == measure


@pytest.mark.parametrize(
    "question, lang, words",
    [
        ("How many test profiles can go through a journey?", "en", ("test", "profiles")),
        ("how many reminder emails is reasonable?", "en", ("reminder", "emails")),
        ("how many types of journeys are there?", "en", ("types",)),
        ("fragments de parcours : combien de noeuds max ?", "fr", ("noeuds",)),
        ("Combien d'activités puis-je ajouter ?", "fr", ("activités",)),
        ("how long can it stay?", "en", ()),
    ],
)
def test_what_a_how_many_ask_counts(question, lang, words):
    assert counted_words(question, lang) == words
