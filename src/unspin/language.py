"""Is a text English?  A cheap, dependency-light decision used before decoding.

Every word token is classed as
  * english  - in wordfreq's English list (zipf >= 3, ~29k words) or a simple inflection of one,
  * foreign  - non-Latin script (each CJK/Kana/Hangul/Thai character counts as one token), a word
               that is common in another language and rare in English ("und", "les", "que", "het"),
               or an unknown lower-case word ("unterstützen", "déclaré"),
  * neutral  - numbers, single letters, unknown capitalised words (names: "Ishiba", "Nippon").

`english_share(text)` = english / (english + foreign), or 1.0 when there is no evidence either way
(empty text, only names and numbers, emoji).  `is_english(text)` is `english_share(text) >= 0.5`,
so mixed text is decided by its English part: an English article quoting a French sentence stays
English, a French article with an English slogan does not.

Cold start: the English list is read directly from wordfreq's shipped `small_en.msgpack.gz`
(~20 ms) without importing wordfreq itself (~300 ms, it pulls in langcodes and ftfy); it is loaded
lazily on first use and cached.  The foreign-marker list below is generated from wordfreq's data
by `build_foreign_markers()` (a test checks that the embedded copy matches).
"""
from __future__ import annotations

import gzip
import importlib.util
import os
import re
from dataclasses import dataclass
from functools import lru_cache

import regex

__all__ = ["english_share", "is_english", "language_stats", "LanguageStats", "THRESHOLD"]

THRESHOLD = 0.5

# Words (with internal apostrophes), or single characters of scripts written without spaces.
_TOKEN_RE = regex.compile(
    r"(?P<cjk>[\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}\p{Thai}\p{Lao}\p{Khmer}\p{Myanmar}])"
    r"|(?P<word>[\p{L}\p{M}]+(?:['’][\p{L}\p{M}]+)*)"
)
_NON_LATIN_RE = regex.compile(r"[^\p{Latin}\p{M}'’]")
# A text of ASCII and these punctuation marks only (none of them a letter, a mark or a CJK
# character) holds exactly the words this finds, in _TOKEN_RE's order: `re` finds them in a
# third of `regex`'s time (distinct 2 KB spun pieces: 0.38 -> 0.13 ms), and most English text
# is such a text.
try:  # (possessive: the same words, as nothing follows a run to backtrack for; 40% faster, 3.11+)
    _ASCII_WORD_RE = re.compile(r"[A-Za-z]++(?:['’][A-Za-z]++)*+")
except re.error:  # (Python 3.10)
    _ASCII_WORD_RE = re.compile(r"[A-Za-z]+(?:['’][A-Za-z]+)*")
_BEYOND_ASCII_RE = re.compile(r"[^\x00-\x7f‘’“”–—…]")

_SUFFIXES = (
    ("'s", ""), ("s'", "s"), ("ies", "y"), ("es", ""), ("s", ""), ("ied", "y"), ("ed", ""), ("ed", "e"),
    ("ing", ""), ("ing", "e"), ("ly", ""), ("ily", "y"), ("er", ""), ("est", ""), ("ness", ""),
    ("ment", ""), ("ity", ""), ("able", ""), ("ation", "e"), ("ize", ""), ("ise", ""), ("ist", ""),
)
_PREFIXES = ("un", "re", "non", "pre", "over", "under", "anti", "counter", "co", "sub", "inter", "multi")


@dataclass(frozen=True)
class LanguageStats:
    english: int
    foreign: int
    neutral: int

    @property
    def share(self) -> float:
        total = self.english + self.foreign
        return 1.0 if total == 0 else self.english / total


def _wordfreq_data_path(name: str) -> str | None:
    spec = importlib.util.find_spec("wordfreq")
    if spec is None or not spec.submodule_search_locations:
        return None
    for loc in spec.submodule_search_locations:
        p = os.path.join(loc, "data", name)
        if os.path.exists(p):
            return p
    return None


def _read_cbpack(lang: str, size: str = "small") -> dict[str, int]:
    """word -> centibel bucket (0 = most frequent), from wordfreq's shipped data file."""
    path = _wordfreq_data_path(f"{size}_{lang}.msgpack.gz")
    if path is not None:
        import msgpack

        with gzip.open(path, "rb") as f:
            data = msgpack.load(f, raw=False)
        out: dict[str, int] = {}
        for i, bucket in enumerate(data[1:], 1):  # data[0] is the header
            for w in bucket:
                out.setdefault(w, i)
        return out
    import wordfreq  # slow import, but only when the data file is somewhere unexpected

    return {w: i for i, w in enumerate(wordfreq.top_n_list(lang, 30000, wordlist=size))}


@lru_cache(maxsize=1)
def _english_words() -> frozenset[str]:
    return frozenset(_read_cbpack("en"))


@lru_cache(maxsize=1)
def _foreign_markers() -> frozenset[str]:
    return frozenset(_FOREIGN_MARKERS.split())


def _known(w: str, en: frozenset[str]) -> bool:
    if w in en:
        return True
    if "-" in w:
        return all(p in en for p in w.split("-") if p)
    for suf, rep in _SUFFIXES:
        if w.endswith(suf) and len(w) - len(suf) >= 3 and (w[: -len(suf)] + rep) in en:
            return True
    for pre in _PREFIXES:
        if w.startswith(pre) and len(w) - len(pre) >= 4 and _known(w[len(pre):], en):
            return True
    return False


# token -> 0 english, 1 foreign, 2 neutral: a text repeats its words, and classing one costs
# regex searches and up to a dozen affix look-ups (bounded: cleared when full)
_CLASS_CACHE: dict[str, int] = {}


def _classify(tok: str) -> int:
    if _NON_LATIN_RE.search(tok):
        return 1
    low = tok.lower().replace("’", "'")
    if low in _foreign_markers():
        return 1
    if _known(low, _english_words()):
        return 0
    if len(low) == 1 or tok[0].isupper():
        return 2
    return 1


def language_stats(text: str) -> LanguageStats:
    counts = [0, 0, 0]
    cache = _CLASS_CACHE
    if _BEYOND_ASCII_RE.search(text) is None:
        tokens = _ASCII_WORD_RE.findall(text)
    else:
        tokens = []
        for cjk, tok in _TOKEN_RE.findall(text):  # (group tuples: faster than a match object each)
            if cjk:
                counts[1] += 1
            else:
                tokens.append(tok)
    for tok in tokens:
        c = cache.get(tok)
        if c is None:
            c = _classify(tok)
            if len(cache) >= 200_000:
                cache.clear()
            cache[tok] = c
        counts[c] += 1
    return LanguageStats(counts[0], counts[1], counts[2])


def english_share(text: str) -> float:
    """Share of the text's evidence-bearing word tokens that are English (1.0 without evidence)."""
    return language_stats(text).share


def is_english(text: str, threshold: float = THRESHOLD) -> bool:
    return english_share(text) >= threshold


def build_foreign_markers(top: int = 250, min_gap: int = 120, keep_common_below: int = 480) -> list[str]:
    """Regenerate _FOREIGN_MARKERS from wordfreq: for each Latin-script language, its `top` most
    frequent alphabetic words that are at least `min_gap` centibels (1.2 zipf) rarer in English;
    single ASCII letters are dropped, and so are common English words (bucket < keep_common_below,
    i.e. zipf > 4.2) unless they are function words of the other language (de, la, die, und ...)."""
    en = _read_cbpack("en")
    keep = set("de la le les des die der und das el los las il et en da di del al y och og het een".split())
    langs = "fr de es it pt nl sv da nb fi pl cs sk sl ro hu tr id ms ca lt lv fil sh is".split()
    found: set[str] = set()
    for lang in langs:
        d = _read_cbpack(lang)
        for w in sorted(d, key=d.get)[:top]:
            if w.isalpha() and (w not in en or en[w] - d[w] >= min_gap):
                found.add(w)
    return sorted(
        w for w in found
        if not (len(w) == 1 and w.isascii()) and (w not in en or en[w] >= keep_common_below or w in keep)
    )


# Generated by build_foreign_markers(); do not edit by hand.
_FOREIGN_MARKERS = """
aan aantal aaral ab abans abbiamo aber aby aceasta această același acest acesta aceste acestea
acho achter acolo acord acordo acuerdo acum ada adalah además adı af aften aftur agad agar agli
agora ahogy ahol ahora ahí aici aika aikaa aikaan aikana aime aina ainakin ainda ainsi aivan
així això aj ajan ajuns ak akan akhirnya aki akik akin aking akkor akkurat ako akong aku al alam
alapján alatt albo alcuni aldrei aldri aldrig ale alebo ales algo alguien algumas algunes
algunos alguns alguém alkaa alla allah alle alleen allem allemaal aller allerede alles allir
allora allt alltaf alltid alltså alors als alt alte altid altijd altra altre altres altri altro
altså altında alveg além ama amb amely ami amikor amit ampak anak anar ancak anche ancora anda
andare anden andere anderen anders andet andra andre ang ani anksčiau annak annan annars annat
annað annen annet anni anno annyira année années ano anong anos ans ant antaa antara antes anul
anys ao aos apa apabila apakah apenas apie apoi aproape après após aquest aquesta aquestes
aquests aqui aquí ar ara arasında araw arba arbeit arbejde ardından arra arribar artık arī
asemenea asi aslında aspoň assez assim asta astfel asti asupra así atas atau atkal atpakaļ
atrast através atrodas atrodo att atunci atât até au auch auf auk aunque aurait aus aussi autre
autres aux av avais avait avant avea avec avem aver avere aveva avoir avons avui avut awak ay
ayah aynı ayon ayrıca az azok azonban azt aztán azzal azért açık aí að aðeins año años aún aš ať
aż až așa ba babae bagaimana bagay bagi bagian bago bagong bagus bahagi bahasa bahawa bahay
bahkan bahwa baik bajo bak baka bakit balik bana bandar bani bansa banyak bara bardziej bardzo
bare barn baru bata batas bawah bawat bayan bazı başka başkanı başladı baš beaucoup beberapa
bedre bedste begitu behöver bei beiden beim bekerja belakang beliau belki belum bem benar bence
benda bene beni benim benne bent beograd berada berapa bereits berjaya bersama besar besser
beste beter betul betur beveik bez bi biasa biasanya bien bieži bih bij bija bijis bil bila
bilang bile bili bilo bine binnen bio bir biraz biri birlikte birçok bis bisa bist biti bitte
biz bize bizi bizim biztos bland blandt blant ble blev blevet bli blijven blir blitt blive
bliver bo boa bodo bodoh bol bola boleh boli bolj bolo bom bomo bon bona bonne borde bort boste
boyunca bra brasil brez broj brug bruge bruke bruker bu buah buat bucurești budak budapest bude
budete budou budu budú buen buena bueno bugün buhay bukan bulan bulunan bun buna bunu bunun bună
buong burada burde buvo buwan bych byl byla byli bylo byly być był była było były byť bár bästa
bättre både bæði bé böyle bør børn bütün büyük být będzie będą będę během būs būt būti būtu būtų
cada cadrul cakap cal cantik cara cari cas casa casi caso catalunya català cały ce cea ceea cei
cel cela cele celo celor celui celý centro cepat ces cet cette ceux ceva cez chaque chce chcete
chci che chez chi chiar chodzi chyba ci cidade ciebie cik cilvēki cilvēkiem cilvēks cilvēku cine
cinta citiem città citu ciudad ciutat ciò cię clar coisa coisas començar comme como compte
comunque conform conta contra contre contro copii cosa cosas cose coses così coup cours coś což
cred creo csak cu cual cualquier cuando cuba cuenta cui cukup cum cuma czas czasie czasu czego
czemu czy czyli czym często când cât câteva című cómo că către da daar dabar dabei dacă dades
dafür dag dage dagen dah daha dahil dahilan dai dal dalam dalawa dalawang dalej dalis dalje
dalla dalle další damit dana danas danes danke danmark dann dans dansk danske dapat dar darba
darbo darbu darbą dari daripada darīt das dass dat datang dată daudz daug daugiau davant davon
davvero daw dazu daļa dažnai dažniausiai de debe decir decât dedi deel deg degli dei deja del
dela della delle dello delo dels delu dem demek den dengan dengar denk denn denna denne dentro
depan depois depuis der deras dere deres derfor des desde despre després después dessa det deti
detta dette detto deus deutschen deutschland deux devam deve devlet deze değil deň deși di dia
dias dice dich die dienas dienu dieną diese diesem diesen dieser dieses dijo dikkat dimana din
dina dine dins dintre dios dir dire diri disini disse dit dito ditt diu divas diye diyos diz
dizer diğer dla dlaczego dlatego dnes dni dnia doar dobio dobre dobro dobry dobrze době dobře
doch dock doe doen doet doi dois doit dok dolog dom doma domu domāju dona donar donc donde dones
dopo dort dos dost dosť doua două dove dovolj doğru drei drept drie droit druge drugega drugi
drugih drugo država države du dua duas duduk dues dulu dumnezeu dunia după durant durante durch
dus dużo dva dve dveh dvi dvoch dvě dwa dzieci dzień dzięki dziś där därför då déjà día días
díky død dünya dēļ dėl děti dňa ea ebben echt edelleen eden edes ediyor ediyorum een eens eerst
eerste ef efni efter eftir egen egentlig egy egyik egyszer együtt egész ehkä ei eiga eigen
eigentlich eikä ein eina eine einem einen einer eines einfach einmal einn einnig eins einu
eiropas eitt eivät ekkert ekki el ela ele eles eli elkaar elke ell ella elle ellen eller elles
ellos ells els első elég először előtt ember emberek en ena encara encore enda ende endnu
enemmän eneste enfants enligt enn ennek ennen eno enquanto ens ensimmäinen entonces entre então
enää equip erano erau eres erg eri erkek erre erst ersten eru erum es esa esam escola ese esi
esimerkiksi eski esmu eso esos espanya españa essa esse essere est esta estaba estado estamos
estan estar estas estat estava este estem esto estos estou estoy està está están estão et etmek
ett ettei etter etti että etwa etwas euch europos európai eux ev evet există ez ezek ezen ezt
ezzel ezért eða eğer eğitim ešte fa fac facă faham faire fais fait fakat faktisk faktiskt falar
familia famille família fara fare farklı fatto faut faz fazer fazla față feil feina fel femme
fent fer fet fez ficar fick fie fiecare fiind fik fikk filho fim fimm fin finde finden findes
finna finne finner finnes finns finnst fino fins fleiri fler flera flere foarte fog foi fois
fontos fora foram fordi forma forse forskellige fortfarande fortsatt fosse fost foto fra fram
français frau frem frá från fu fue fuera fueron fuori fyrir fyrr fyrst fyrsta fyrstu fá få fået
får fått fékk férfi fólk fór för första förstår før først første für făcut fără ga gaan gaat
gabi gada gadiem gadu gadus gadā gagawin gal gali galima gamit gamle gan gandrīz gange ganger
ganska ganz gar gawin gaya gde gdje gdy gdzie ge geben gebruikt gece gedaan geen gegen gegn
gegnum gehen geht geld geldi gelen geliyor gemaakt gemacht genau genel gennem genom gens gent
gente ger gera gerade gerai gerek geri geriau gerir gerne gert gerçek gerçekten gerð geta getur
geven gewoon gezien geçen gi gibi gibt gick gik gikk gila gillar ginagawa ginawa ging giorni
giorno gir giver già gjennom gjerne gjorde gjort gjør gjøre glede gleich glej gli gobierno gode
godina godine godt goed goede gott govern governo graag gracias grad grada gran grande grazie
gre grein greitai grote groupe grund grunn grup grupo grupės gràcies guerra gumawa guna gusto
gut gute gå gång går gæti gör göra göre gør gøre gün günü güzel haar hab habang habe haben haber
había hace hacer hacia hadde hade hafa hafi hafta hafði hai hakkında hal hala halda halimbawa
halos haluaa ham han hana hanem hanggang hangi hann hanno hans hanya har hari harus hast hasta
hati hatt hatte hauria havde haver havia hay hayır heb hebben hebt hecho heeft heel hef hefur
hefði heidän heim hela heldur hele helemaal heller helsingin helsinki helt hem hemen hende
hendes hennar henni hep herkes het heti heute hidup hieman hier higit hij hilang hindi hingga
hins histoire historia història história hitro hizo hiç hiçbir hjem hjá hlavne hluta hluti hned
hodně hoe hogy hogyan hoje hol hombre homem homme hon honom honum hora hos houden hoy hozzá huis
hun hur huwag hva hvad hvað hvem hver hverju hvernig hvilket hvis hvor hvordan hvorfor hvort
hyvin hyvä hyvää há három hát hän hänen hänet här hätte håller hægt hélt hér höfum hún ia iako
ialah iar iba ibang ibig ibu ich ici idag ide idő iedereen iemand iespējams iet iets igaz igen
igjen ih ihan ihm ihmiset ihn ihnen ihr ihre ihren ihrer ik ikaw iki ikinci ikke il ilalim ilang
ile ilgili ilgis ili ilk illetve ilman ils ilyen ima imajo imaju imali imamo imao ime imel imeli
immer ind inden informació inga ingat ingen inget inggris ingin ini inkább inn innan inne innych
inom ins insan insanlar insieme inte invece inyo iné io ir isa isang ise iso isso ist istanbul
isten istiyorum italia ito itong itse itt itu iyi iyon iyong iz izmed između izskatās için
içinde iş işte iš ja jaar jadi jag jahr jahre jahren jak jakarta jaki jakie jako jalan jam
jamais jangan jaren jau jauh jav jde je jedan jeden jeder jedna jednak jedno jednog jednom
jednou jeg jego jeho jei jeigu jej jejich její jen jenom jer jest jestem jesteś jestli jeszcze
jetzt jeśli ještě jeżeli ji jie jiems jih jij jika jis již jo jobb jobban jog jogo joj joka joku
jonka jopa jos joskus jossa jota jotain joten jotka jotta jou jour jours još jsem jsi jsme jsou
jste ju juga juk jullie jumpa jums juos juste juuri już já jälkeen jävla jí jó jól jön jā jābūt
ją jį jūs jūsu jūsų jų ka kabilang kabul kad kada kadar kadın kahit kai kaibigan kaikki
kailangan kaip kaj kako kaksi kalau kalba kalbos kali kalian kam kamay kami kampung kamu kamēr
kan kanak kang kanila kanilang kaniyang kann kannattaa kannski kanske kanskje kanssa kanya
kanyang kao kapag kapal kapatid kar karena kartais kartu kartą karşı kas kasama kasi kasih
kasnije kata katawan katerega katerem kateri katerih katru katso kau kauno kaut kautta kawan
kawasan kay kaya kayo każdy každý kaže kde kdo kdy kdyby když ke kecil kedua kedy keer kein
keine keinen kell kellett keluar keluarga kembali kemudian kemur kena kenapa kendi kendini
kepada kepala ker kerana kereta kerja kerran kertaa kertoo ketika kez keď ki kicsit kiedy kiek
kiinni kiitos kijk kilka kimse kinder kinderen kini kis kita kiti kitą kitų kişi kjent kjer klar
kljub kmalu ko kod kodėl koja koje koji kojima kojoj koju koko kol kolem koliko kolme kom koma
komen komið komma komme kommen kommer kommt komt koncu konnte kopā koska koskaan kot kota kraju
krievijas krijgen kroz kterou která které který kteří kto ktorej ktorom ktorá ktoré ktorého
ktorí ktorú ktorý ktorých ktoś która które którego której który których którym którzy ku kuala
kuat kuin kuinka kuitenkin kuka kukaan kultūras kultūros kun kunde kung kunna kunne kunnen kunt
kuo kur kura kuras kuri kuriame kurie kurio kurios kuris kurių kuru kurā kurį kurš kuten kvar
kvinner kvinnor kvůli kwam kyllä känner känns käy käyttää kéne később két können könnte köszönöm
kötü következő között københavn küçük kā kāda kāds kādu kāpēc ką kč kısa kız la laat laatste
labai laban labi labiau labs labāk lado lagi lagu lahat lahko lai laika laikam laiko laiks laiku
laikā laiką lain lainnya lakukan lalaki lalo lalu lama lamang lang lange langsung laro las
lassen lat laten latviešu latvijas latvijā lavoro le leben lebih lebo legalább legge legjobb
legnagyobb legyen lehet lei leið lelaki len lenge lenne lenni lepiej lepšie les lesz leta letech
letih leto lett letu leuk leur leurs leute leven ley lide lidi lidt lidé lidí lietas lietuvių
lietuvoje lietuvos lieu lige ligger lihat liian lijkt lika liker lille lisäksi lisää lite litt
liv livet ljubljana ljubljani ljudi ljudje lloc lo loc locul loob lor loro lors los luar lub
lucru ludzi ludzie luego lugar lui lumea là lá láta lähes länge längre líka löytyy lütfen līdz
lūdzu maaaring maaf maailman maakt maar macam machen macht mag maga magam maganda magiging
maging magyar magyarország magát mahal mai maintenant maior mais maison majd mají majú mają mak
maka makan maken makita mal mala malaking malam malapit mali maliit malo mam mamy mana mand mane
manera mange mani manje mann mano mans manusia marami maraming mare margir mari mas masa masalah
masih masuk masz mata matapos mateix mati mau mayroon mayroong mať mea med medio medtem medzi
mee meer meg meget meglio megy mehr meidän meillä mein meine meio meira mejor melakukan melalui
melayu melhor melihat mellan mellem mellett mellom memang membuat memiliki mempunyai menar
mencari mendapat mendapatkan menee mener mengambil menggunakan menjadi menn mennesker mennä meno
menos mens menschen mensen mentre menys mer merasa merci mere mereka mert merupakan mes mesmo
mest mesta mesti mesto mestu metais mettre metu metus metų meu meus meva mezi með meðal meðan
među međutim mga mia miatt miał mich miejsce mientras mies mieste miesto mieux mieć mig mij mijn
mikið mikor miksi mikä milioane milli millor milyen mim mina minden mindenki mindent mindig
mindre minha minsan mint minta minä mio mir mis misma mismo misschien missä mistä mit miten mitt
mitä mitään mivel miért między mjesto mjög mnie mnogo mobil moc mod modo moet moeten mogoče mogu
mogą mogę mohli moi moim moins mois moja moje mokyklos moldova molt moltes molto molts momento
mon monde mondo mondta mong mora morda mort mot może możesz można možda može možete možno možná
mu muchas mucho muchos mudah muito mujer mukaan mukana mukha mula mulai mulher mulig mult multe
mums mun muna mundo mungkin mus musi muss musí mutlu mutta muun muut muuta muuten muy muzikos
mycket mye myslím myös má mál mám máme már más másik második máte mãe män människor må måde
många måske måste måtte még mégis mér més méxico même mín místo mít mój món mówi môže môžete
müssen mājas mājās mă mēs mě měl měla měli mı mňa mūsu mūsų můj může můžete naam naar nach
nachádza nacional nad nada nadie nag naging nagy nagyon naj najbardziej najbolj najmä nak naka
nakita nakon nalazi nam nama naman namang namin nampak namun nang nanti naozaj nap napr naprawdę
naprej napríklad například nas nasa nasıl natin nato natürlich nav navn nawet način naš naše
național ne nebija nebo nebude nebuvo ned nedaudz neden nederland nee neesmu negali negara negli
nego nei nej nejlepší neka nekad nekaj nekas neke neked nekem neki neko nekoliko nekā nel nella
nelle nem nema nemen nemzeti není ner nes neskôr nessuno neste nesten neue neuen nevar neviens
nevis nevoie nevím nezinu neće nešto než ng nga ngayon ngunit ni nic nich nicht nichts nici nie
niech niego nieko niekoľko niente niet niets nieuwe niečo nigdy niiden niin niitä nije nikdo
nikdy nikt nila nim nimic nincs ninguém nisam niso nisu nit niti nito niya niyang niður nič
ništa niż njega njegov njegovo njih noastră noch noche nodig noe noen nog nogen noget nogle noi
noin noite nok nom nombre nome només nooit noong nord norge nori nors norsk norske nos nosaltres
nosotros nossa nosso nostra nostre nostres nostro nostru nota noteikti notiek notika notre nou
nous nouveau nouvelle nova novada novi novo nové nozīmē npr nr nu nuestra nuestro nueva nuevo
num numai numele numero nun nunca nung nuo nuova nuovo nur nya nye nyt ná nám nás não näin nämä
när näyttää nå någon något några når næste néhány nélkül nézd ní nós nú núna nē nėra něco něj
někdo někdy několik oameni oamenii ob oblasti občine och också oczywiście od oder odmah odnosno
oft ofte og oggi ogni også ohne oikein okkar okkur oko okoli okolo okrem olabilir olacak olan
olarak oldu olduğu olduğunu ole oleh olen olet olevan oli olika olin olisi olivat olla ollut
olmak olması olmaz olsun oltre olup olur oluyor olyan om oma oman omdat omkring ona onda onde
onder oni onko ono ons ont onu onun onze ook opp opravdu opět opštine ora orang oras oraz ori
orice oro ortaya orðið os osa osim oslo osoby oss osób otra otras otro otrok otros ott ottaa ou
oui outra outras outro outros ova ovaj ovat ovde ove ovo ovog ovom ovu oz oziroma où paano paar
pada pag pagal paggamit pagiging pagitan pagkain pagkatapos pai pak pala paldies paling paljon
pamamagitan pamilya panahon pang pangalan par para paraan parang paras parasti parce pare parece
pari parler parte partea partido partie partit pas pasado pasaules pasaulio pasaulyje pasaulē
passat pasti pasukan pati patrí pats patīk paulo país pe pedig pek pel pela pelajar pelo pelos
pels pemain pendant pengar penge penger pense penting pentru pera percaya perchè perché
perempuan pergi perioada perlu pernah pero perquè persona personas persone personer persones
personne personnes persze pertama perusahaan però pessoa pessoas peste petit peu peut peux
pewnie pie piemēram pierwszy pilipinas pilipino pilsētas pirmo pirms pirmā pitäisi pitää più
plaats plass plusieurs po poate poble poc poco pod podczas pode podem podemos poden poder podle
podľa pogosto poi pois pokud poleg politiet politique polsce polski política pomeni pomoč pont
por porque posar posle poslední possono posto postoji potem poti potom pouco pour pourquoi pouze
pozri počas pořád poți pra pracy praha prav pravi pravo prawa praze prea precis precum pred
predvsem prej preko prema première prendre presidente pret preto pretože prečo pri pria prie
prieš prije prima primeira primeiro primer primera primo primul prin prix pričom problema
problém projecte proprio prostu prostě proszę protams proti protiv proto protože proč prvi první
prvý przed przez przy práce práci práve právě pueblo puede pueden puedo pues puikiai puis pun
punt punto punya puso puta putea può puțin pár până päästä på például później pārāk pēc před
přes při qu qual qualche qualcosa qualcuno quale quali qualquer qualsevol quan quand quando
quanto quase quasi que quel quella quelle quelli quello quelque quelques quem quer quero questa
queste questi questo qui quien quiere quiero quindi quoi què qué radi rajono rasa rata ravno
raya raz razem različnih recht redan reikia reizi rekao republike republiky res respublikos
reste ret rett reykjavík richtig rien rigtig riktigt rin roce rok roka rokoch rokov roku roma
românia româniei rossz rumah rundt runt rzeczy rá rád rätt rétt również rīga rīgas rīgā saa
saada saan saanut saat sabe saber sabi sabihin sada sadece sagen sagt sagði sahip sai sais saj
saja saját saker sakit sako sakė salah sama samalla saman samen samkvæmt samma samme sammen samo
samozrejme sampai samt sana sangat sanoa sans sant sarebbe sarili sarà satu sau savas
savivaldybės savo savu savā saya sayang schon seba sebab sebagai sebe sebelum sebenarnya sebuah
secara secondo sedaj sedan sedang seg segir segja segons segundo según sehen sehingga sehr sei
sein seine seinem seinen seiner seit seja sejak sekali sekarang sekitar sekolah sekä selalu
selama selamat selbst selepas selon seluruh selv sem semana semasa sembla sembra semmi sempre
semua semula sen sendiri sendo seni senin senza seorang seperti ser sera serait sering serta
serà será ses seseorang sesuatu setelah setiap sett seu seul seus sev seva seveda seves sevi si
sia siamo siap siapa sicer sich siden sido sidste sie siebie siellä siempre sier sig sige siger
sigui siihen siinä siis siitä siksi sila silloin sillä silti sim sina sinabi sinasabi sind sine
sini sinn sinni sino siste sistema sitt sitten sitä siya siyang siz sizi sizin się sjá själv ska
skal skjer skolas skoraj skozi skulle skupaj skupine skôr slik slovenije sloveniji slovenskej
slovenski slovenskih slovensku sme smo snad snel sobie sobre soha soit sok sokkal soll sollte
som sondern sono sonra sont során sota sotto sou sous sowie soy sploh spoločnosti spolu sporta
sporto sposób spre spune spus spēles srbiji sta staan staat stad stadig stadt stanie starp stat
stata stati stato stað ste sted steeds steht stejně stesso stjórn sto stockholm stor stora
storia stran strane strani strany strony stvari stále står su sua suas suatu sudah sui suis
suite suka sul sulla sunt suntem suo suoi suomen suomessa suomi suport sur sus suurin svaki sve
svensk svenska sverige svet sveta svetu svi svo svoj svoje svojega svojej svojho svojich svojim
svojo svoju svona svou své svého svůj swoje swoją sya synes systém szeptember szerint szerintem
számára szép szó szóval sá são säga säger sätt så sådan sånn sæti sé sér sí sín sína sínum síðan
síðar só sólo són söz sú súčasťou süre să său są ta taas tack tad tada tadi tady tagad tage
tager tahu tahun tai taigi taip taj tajā tak taka taki takia takich takie takip takk takkan tako
takođe takrat takut taky také także takže tal talaga talagang talán tam también també também
tamo tan tanggal tanpa tant tanto tao taon taong tapi tapo tapos tar tarafından tarp tas tatlong
tatt tayo tačiau taču te teda tedy tega tegen tego teh tehdä teil teisės tej tejto tek tekee
teki tekið tekrar telah teljes teljesen tem teman temat tempat tempo temps temu tenemos tenen
tener tengo tengok tenho tenia tenim tenir tentang tento tentu tenía ter teraz terbaik terima
terjadi terlalu tersebut terug terus tetap tetapi tev tevi teď teşekkürler też težko ti tiada
tid tidak tiden tidligere tidur tiedä tiek tiem tiempo tiene tienen tiesiog tieto tieši tiešām
tiež tiga tijd tijdens tik tika tikai tikrai til tilbage tilbake tillbaka timp timpul ting
tinggal tinggi tinha tipo tisti toate toată toch toda todas todella todo todos todėl toe toen
tog toga tohle toho tohto toi toinen tok tokia tokom toks toliau tolong tome tomto tomu tomēr
torej tos tot tota totes tothom toto tots totul toujours tous tout toute toutes tovább további
toți tra trabajo trabalho travail tre treba trebalo trebui trebuie trecut trei trenger tres tri
trobar trochu trochę trois trop troppo tror trzeba très três trīs tu tua tubig tudi tudja tudo
tudok tudom tuhan tulad tule tulee tuli tullut tun tunay tunggu tungkol tuntuu tuo tuomet tur
turi turėjo turėtų tus tussen tutaj tutta tutte tutti tutto två tvö twee ty tych tycker tyle
tylko tym táto târziu tão tähän tällä tämä tämän tänään tässä tästä tätä täysin täällä té
tényleg této têm tête tím tíma tók több túl túto tüm türk türkiye tých týchto tým tā tāda tāds
tādu tāpat tāpēc tās tą tě třeba tři uang ud uden uhr uit ul ulo um uma una unang und unde undir
une unei uno unor unos uns unsere unter untuk unui unul upang uporablja upp upravo ur uri urma
určite usein ut utan ute uten utolsó után uuden uur uusi uvek uw uz uzun už vaak vaan vad vagy
vagyok vagyunk vai vaig vaikai vaikka vain vairs vairāk vais vajag valaki valami valamint valsts
valstybės való vam vamos vanaf vandaag vandens vannak var vara varbūt vardır varför varit varje
varmaan varmasti varu varð varētu vas vasta vastaan vaše veces veci ved vedere vedno veel vegada
vegar vegna vej vel veldig vele veliki veliko velmi vem vendar veoma ver vera verdad verdade
verden verder verið verjetno verkligen vero vers verschillende verso verða verður vet veure veut
veux veya vez vezes vezi već več veľa veľmi vi viac viața viață vid vida vidi vie viel viele
vielleicht vielä vien viena vienas viene vienkārši vienmēr viens vienu vieną vieta vietas
vietoje vietos vietu vietā vietą viime viktig vil vilja vilken vilket vill ville vilniaus
vilniuje vind vinden vinna virkelig vis visa visada visai visas visi visiem visiems visiškai
viskas viską vismaz viss vissza visto visu visus viszont visą visų vita við viņa viņam viņas
viņi viņiem viņu viņš više vlastní vlastně vo você vocês voglio voi voidaan voir voisi voit
volgende volgens volna volt volta voltak voltam volte vom von voor vooral vor vores voru vos
votre vou vous voy vraag vragen vrai vraiment vreme vremena vrijeme vrlo vrouw vsaj vsak vse
vseh vsem vsi vu vuoden vuoksi vuonna vuotta vám vás vähän väl väldigt välillä vår våra være
været væri vært víc více vôbec vă včasih vďaka vēl vėl vėliau věci však vše všechno všechny
všetci všetko všetky všetkých všichni vůbec vždy waar waarom waktu wala walang walaupun wanita
wanneer waren warum wat według weer weet weg wegen weil weiss weiter wel welt wenn wer werd
werde werden wereld werk werken weten wie wieder wiele wielu wiem wij wika wil willen wir wird
wirklich więc więcej wo wohl wollen worden wordt wszyscy wszystkich wszystkie wszystkim wszystko
wtedy wurde wurden während wäre würde właśnie yaitu yan yang yani yapan yaptığı yapılan yeni
yeniden yer yerde yerine yfir yg yhden yhdessä yhtä yine yksi yleensä yli yok yoksa yol ypač yra
yun yung yüksek yıl yılında za zajedno zakaj zal zaman zamanda zaradi zase zaten zato zawsze
začetku zašto zbog zdaj zde ze zeggen zegt zeit zeker zelf zelfs zelo zemes zemlje zi zich zie
zien zij zijn zile zit ziua znači zo zoals zonder zor został została zou zrobić zu zullen zum
zur zwei zwischen à às á áfram áhrif áll által án ár ára árið árum ásamt át átt átti áður än
ändå är även å år åt ça çocuk çok çünkü è é ég également él én és étaient était état été év éves
één être í így íslandi íslands îi îl îmi împreună în înainte început încă însă într între își
îți öll öllu öllum önce önemli önnur össze över öyle özel öðrum ønsker úgy új újra úplne úr út
über üzere üzerinde üzerine üç þann þannig þar þau það þegar þeim þeir þeirra þess þessi þessu
þessum þetta þig því þá þátt þær þér þó þú ārā će ćemo č čas časa čase časti často času časť če
čeprav české često čez či čia človek člověk čo ďalej ďalšie į ı ļoti ľudia ľudí ő őket řekl říká
świata şekilde şey şimdi şu šajā šalies še šeimos šeit ši šiandien šie šio šios šis šiuo šią šo
šodien št šta število što šī šīs šį šķiet ūdens że żeby życia życie že žemės žinoma življenje
život života žmogus žmonių žmonės și ți
"""
