"""What the measures listen for in a call held in Spanish: the Spanish counterparts of the English phrases of
``conversation`` and ``coaching``, for the same measures. Pure text rules on normalised, lower-cased text.

Written from how sales calls are held in Spanish, formal (usted) and informal (tú, vosotros), in Spain and Latin
America. Speech-to-text writes accents most of the time and sometimes drops them, so a letter written with an accent
here also matches it without one (``_patterns``); only the question words keep theirs, since without it they are
conjunctions ("qué" asks, "que" joins). A question is marked by "¿" as well as by "?" and by its opening words, and
since Spanish asks yes/no questions without inverting the verb, one with neither mark is found only by its opening.
"""

from __future__ import annotations

import re

from analysis_svc.domain.coaching import CoachingPhrases
from analysis_svc.domain.conversation import ObjectionKind, Phrases, Topic, ValueTheme
from analysis_svc.domain.patterns import accents_optional as _lenient
from analysis_svc.domain.patterns import spanish_words as _patterns
from analysis_svc.domain.patterns import whole_words as _exact  # as written: a question word's accent makes it ask

_UNITS = r"(?:uno|una|dos|tres|cuatro|cinco|seis|siete|ocho|nueve)"
_NUMBER = (r"(?:\d+(?:[.,]\d+)?|(?:treinta|cuarenta|cincuenta|sesenta|setenta|ochenta|noventa)(?: y " + _UNITS + r")?"
           r"|veinti\w+|veinte|diez|once|doce|trece|catorce|quince|dieci\w+|" + _UNITS + r"|cien|ciento|mil)")
# "Un diez por ciento de descuento" is a discount, not a result.
_PERCENT = _NUMBER + r" ?(?:%|por ?ciento)(?! (?:de descuento|menos))"
_WEEKDAY = r"(?:lunes|martes|miércoles|jueves|viernes|sábado|domingo)"
_MONTH = r"(?:enero|febrero|marzo|abril|mayo|junio|julio|agosto|septiembre|setiembre|octubre|noviembre|diciembre)"
_HOUR = r"(?:una|dos|tres|cuatro|cinco|seis|siete|ocho|nueve|diez|once|doce)"
_QUESTION_WORDS = (r"qué", r"cómo", r"cuál", r"cuáles", r"cuándo", r"cuánto", r"cuánta", r"cuántos", r"cuántas",
                   r"dónde", r"adónde", r"quién", r"quiénes", r"por qué", r"para qué")
_TELL_ME = (r"cuéntame", r"cuénteme", r"cuéntanos", r"cuéntenos", r"dime", r"dígame", r"explícame", r"explíqueme",
            r"háblame", r"hábleme", r"descríbeme", r"descríbame")
# "Ya probé ...", "ya tenemos ...": what the buyer already has.
_ALREADY = (r"ya (?:tengo|tenemos|uso|usamos|trabajo con|trabajamos con|estoy con|estamos con|probé|probamos"
            r"|he probado|hemos probado|contraté|contratamos)")
_SEND_ME_INFO = (r"(?:mándame|mándeme|envíame|envíeme|pásame|páseme) (?:\w+ )?(?:información|info|precios|detalles"
                 r"|un correo|un email|algo)|(?:me|nos) (?:la|lo) (?:mandas|manda|envías|envía)\w* (?:al|por) correo")
_THINK_IT_OVER = (r"(?:me|nos) lo (?:tengo|tenemos) que pensar", r"lo tengo que pensar",
                  r"(?:me )?lo (?:pienso|pensaré)", r"lo pensamos", r"(?:déjame|déjeme|dejadme) pensarlo",
                  r"pensármelo")
_LEAVING = r"(?:dar(?:me|nos|lo)?|me doy|nos damos) de baja|cancelar|anular (?:el|mi|la)"

_DATE_TIME = _patterns(
    _WEEKDAY, r"mañana", r"pasado mañana", r"el (?:día )?\d{1,2}", r"\d{1,2} de " + _MONTH,
    r"(?:el )?(?:primero|" + _UNITS + r"|diez|once|doce|quince|veinte|veinti\w+|treinta(?: y uno)?) de " + _MONTH,
    r"a las \d{1,2}(?:[:.]\d\d)?", r"a la una", r"a las " + _HOUR, r"a mediodía",
    r"\d{1,2}(?::\d\d)? ?(?:h|am|pm|a\. ?m\.|p\. ?m\.)",
)

# A question word may follow its preposition ("de qué tamaño", "con qué compañía") or what it asks about ("y eso
# cuánto os cuesta").
_ASKING = r"(?:(?:eso|esto) )?(?:(?:a|de|con|en|desde|hasta|sobre) )?" + _exact(*_QUESTION_WORDS).pattern
_QUESTION_OPENING = re.compile("¿|" + _ASKING + "|" + _exact(*_TELL_ME).pattern + "|" + _patterns(
    r"te parece", r"le parece", r"os parece", r"te gustaría", r"le gustaría", r"os gustaría", r"te interesa",
    r"le interesa", r"tienes", r"tenéis", r"hay algo", r"sabes", r"sabe usted", r"podrías", r"podría usted",
    r"puedes", r"podéis", r"quieres", r"queréis", r"quiere usted", r"conoces", r"conoce usted", r"usas", r"usáis",
    r"estás", r"estáis", r"has", r"habéis", r"sueles", r"soléis", r"te va bien", r"le va bien", r"os va bien",
    r"buscas", r"buscáis", r"necesitas", r"necesitáis",
).pattern)
_OPEN_QUESTION_WORDS = _exact(r"qué", r"cómo", r"por qué", *_TELL_ME)
_LEAD_IN = re.compile(_lenient(
    r"^(?:(?:y|pues|bueno|vale|entonces|oye|oiga|mira|mire|eh+|em+|ehm|ah|a ver|ok|okey|o sea|claro|perfecto"
    r"|genial|vaya|además|también|ya|hola|buenas|buenos días|buenas tardes|perdona|perdone|disculpa|disculpe|ahora"
    r"|venga|de acuerdo)(?!\w)[\s,]*)+"))
_LATER_QUESTION = re.compile(r"¿|,\s*(?:(?:y|pues|entonces|o)\s+)?(?:" + _ASKING + "|" + _exact(*_TELL_ME).pattern + "|"
                             + _patterns(r"(?:quieres|quiere|queréis) (?:verlo|verla|ver|probarlo)", r"tienes",
                                         r"tenéis", r"buscas", r"necesitas", r"te (?:parece|gustaría|interesa)",
                                         r"le (?:parece|gustaría|interesa)").pattern + ")")
# Exclamations and descriptions that open like a question: "qué bien", "cómo no", "lo que hacemos es ...".
_NOT_A_QUESTION = re.compile(
    r"^(?:qué (?:bien|bueno|pena|lástima|suerte|guay|rollo|interesante|maravilla|alegría|horror)(?!\w)|cómo no(?!\w)"
    r"|lo que (?:hacemos|yo|nosotros)(?!\w)|como (?:le|te|os) (?:decía|comentaba)(?!\w))")
_POINTS_BACK = re.compile(_lenient(
    r"^(?:qué|cómo|por qué|cuándo|dónde|quién)(?:\s+\w+)?\s+(?:eso|esto|ese|esa)(?!\w)"
    r"|(?<!\w)(?:cuando (?:dices|dice|decís)|(?:has|ha|habéis) (?:dicho|comentado|mencionado)"
    r"|me (?:decías|decía|comentabas|comentaba)|mencionaste|mencionó|dijiste|qué pasó con)(?!\w)"))
_LEADING_QUESTION = _patterns(
    r"no (?:te|le|os) parece que", r"no (?:crees|cree|creéis) que", r"verdad que", r"a que sí",
    r"(?:estarás|estará|estaréis) de acuerdo", r"no sería (?:genial|estupendo|ideal|fantástico)",
)

_TOPIC_PATTERNS: dict[Topic, re.Pattern[str]] = {
    Topic.PAIN: _patterns(
        r"problemas?", r"problemátic\w*", r"dificultad(?:es)?", r"difícil", r"complicad\w*", r"quejas?", r"fallos?",
        r"falla\w*", r"errores?", r"error", r"se (?:me|nos|les|te|os)? ?escapan?", r"perd(?:emos|imos|iendo|ido|ida)",
        r"pierd\w*", r"lent[oa]s?", r"lentitud", r"a mano", r"manual(?:mente)?", r"frustra\w*", r"dolor de cabeza",
        r"no (?:llego|llegamos|llegan|llegas) a", r"no (?:doy|damos) abasto", r"cuello de botella", r"se (?:cae|caen)",
        r"caídas?", r"retrasos?", r"horas extra", r"agobi\w*", r"hart[oa]s?", r"hartando", r"no funciona\w*",
        r"qué (?:os|te|le|les) preocupa", r"lo que más (?:os|te|le) cuesta", r"retos?", r"desafíos?", r"molest\w*",
        r"qué (?:pasa|pasó|falla|falló) cuando", r"qué (?:pasó|pasa) con",
    ),
    Topic.BUDGET: _patterns(
        r"presupuestos?", r"cuánto (?:gastas|gastáis|gasta|gastan|inviertes|invertís|invierte|pagas|pagáis|paga|pagan)",
        r"cuánto (?:te|le|os|les) (?:cuesta|sale|cuestan)", r"invers\w*", r"invertir", r"precios?", r"costes?",
        r"costos?", r"cuánto (?:vale|cuesta)", r"€", r"euros?", r"dólares", r"pesos", r"\d+ ?(?:mil|k)",
        _NUMBER + r" (?:mil|millones|euros|pesos|dólares)", r"dinero", r"partida", r"financiación", r"a plazos",
        r"cuotas?", r"tarifas?", r"al mes", r"mensualidad\w*",
    ),
    Topic.TIMELINE: _patterns(
        r"(?<!a )plazos?", r"fecha límite", r"para cuándo", r"urgen\w*", r"prisa", r"lo antes posible",
        r"cuanto antes",
        r"cuándo (?:quieres|queréis|quiere|quieren|necesitas|necesitáis|necesita|necesitan|pensáis|piensas|piensa"
        r"|tenéis|tienes|tiene|empezaríais|empezarías|empezaría)",
        r"este (?:mes|año|trimestre)", r"(?:el|la) (?:mes|año|trimestre|semana) que viene",
        r"próxim[oa] (?:mes|año|trimestre|semana)", r"en (?:unas? |un par de |dos |tres |\d+ )?(?:semanas?|meses|días)",
        r"por qué ahora", r"qué ha cambiado", r"renovación", r"renueva\w*", r"vence", r"caduca", r"permanencia",
        r"antes de (?:" + _MONTH + r"|verano|navidad|fin de año|final de año)",
    ),
    Topic.DECISION_PROCESS: _patterns(
        r"decisión", r"decisiones", r"decid\w*", r"quién (?:más|decide|aprueba|firma)", r"aprueb\w*", r"aprobación",
        r"aprobar",
        r"(?:mi|tu|su|vuestro|vuestra|nuestro|nuestra) (?:jefe|jefa|socio|socia|socios|gerente|director\w*|dueño"
        r"|pareja|mujer|marido|esposa|esposo)",
        r"consejo", r"junta", r"comité", r"(?:departamento de )?compras", r"consultarlo",
        r"(?:hablarlo|comentarlo) con",
        r"la última palabra",
    ),
    Topic.SUCCESS_CRITERIA: _patterns(
        r"éxito", r"objetivos?", r"metas?", r"resultados?", r"medir", r"mide", r"medimos", r"métricas?",
        r"indicadores", r"kpis?", r"cómo (?:sabrás|sabréis|sabría|sabrías)",
        r"qué (?:esperas|esperáis|espera) (?:conseguir|lograr)",
        r"qué (?:te|os|le) gustaría (?:conseguir|lograr|mejorar)", r"dentro de (?:un año|\w+ meses)",
        r"qué sería un buen", r"qué cambiaría",
    ),
}

_OBJECTION_PATTERNS: dict[ObjectionKind, re.Pattern[str]] = {
    ObjectionKind.PRICE: _patterns(
        r"car[oa]s?", r"carísim[oa]", r"se (?:me|nos) va (?:de|del) (?:precio|presupuesto)",
        r"fuera de (?:mi|nuestro) presupuesto", r"no (?:me|nos) lo (?:puedo|podemos) permitir",
        r"no (?:puedo|podemos) pagar", r"más (?:barato|económico)", r"demasiado dinero", r"mucho dinero",
        r"precio (?:es )?(?:muy )?(?:alto|elevado)", r"no (?:me|nos) (?:entra|cabe) en el presupuesto",
    ),
    ObjectionKind.TIMING: _patterns(
        r"no es (?:buen|el) momento", r"mal momento", r"ahora no (?:puedo|me viene|es)", r"no (?:tengo|tenemos) tiempo",
        r"(?:estoy|estamos) (?:trabajando|ocupad[oa]s?|liad[oa]s?)", r"me pilla (?:trabajando|fatal|mal|ocupad[oa])",
        r"no es (?:una )?prioridad", r"más adelante", r"el (?:año|mes) que viene", r"otro (?:momento|día)",
        r"(?:llámame|llámeme) (?:más tarde|otro día|luego|la semana)", r"(?:tengo|tenemos) permanencia",
        r"acabo de renovar", r"no (?:tenemos|tengo) prisa",
    ),
    ObjectionKind.COMPETITOR: _patterns(
        _ALREADY, r"(?:otra|otras) (?:compañía|compañías|empresa|empresas|opción|opciones|tienda|tiendas)",
        r"otros? proveedor\w*", r"la competencia", r"competidor\w*", r"(?:mi|nuestra) compañía(?: actual)?",
        r"mi (?:operador\w*|proveedor\w*)", r"(?:mirar|mirando|comparar|comparando) (?:otras|otros|precios|por ahí)",
        r"otros? presupuestos?", r"lo hacemos (?:nosotros|internamente|en casa)",
    ),
    ObjectionKind.RISK: _patterns(
        r"(?:me|nos) preocupa", r"preocupad[oa]s?", r"preocupación", r"miedo", r"riesgos?", r"arriesgad[oa]",
        r"no (?:me|nos) fío", r"desconfí\w*", r"no (?:estoy|estamos) segur[oa]s? de que", r"no sirven?",
        r"no (?:funcionó|funcionaba|funcionan|funcionaron)", r"engañ\w*", r"estafa\w*",
        r"y si (?:no funciona|falla|sale mal)", r"no creo que (?:lo|la|nadie|el equipo) (?:use|usen|utilice)",
    ),
    ObjectionKind.AUTHORITY: _patterns(
        r"no (?:es mi decisión|depende de mí)", r"(?:tengo|tendría|tenemos) que (?:consultarlo|hablarlo|comentarlo)",
        r"(?:consultarlo|hablarlo|comentarlo) con (?:mi|mis|nuestro|nuestra|el|la)",
        r"lo (?:decide|lleva) (?:mi|el|la)", r"(?:mi|el) (?:jefe|socio|gerente|dueño) (?:tiene|tendría) que",
        r"necesit\w* (?:la )?aprobación",
    ),
    ObjectionKind.STATUS_QUO: _patterns(
        r"(?:estoy|estamos) (?:content[oa]s?|bien|satisfech[oa]s?) con", r"(?:ninguna|ningún) (?:queja|problema)",
        r"(?:me|nos) va bien", r"(?:me|nos)? ?funciona bien", r"no (?:lo |la )?(?:necesito|necesitamos)",
        r"no (?:me|nos) hace falta", r"siempre lo hemos hecho así", r"no (?:me|nos) interesa",
        r"no (?:voy|vamos) a cambiar", r"no (?:quiero|queremos) cambiar",
    ),
}

_ACKNOWLEDGEMENT = _patterns(
    r"(?:lo |te |le |os )?entiendo", r"(?:te |le |lo )?comprendo", r"(?:tienes|tiene|tenéis) (?:toda la )?razón",
    r"es (?:normal|lógico|comprensible)", r"tiene (?:lógica|sentido)", r"(?:me )?parece justo", r"buen punto",
    r"(?:te|le|os) agradezco", r"gracias por (?:contármelo|decírmelo|compartirlo|la sinceridad|tu sinceridad"
    r"|su sinceridad|explicarlo)", r"ya veo", r"me (?:lo )?imagino", r"entendido", r"lo siento", r"lamento",
    r"qué (?:faena|rabia|pena|lástima)", r"es una (?:preocupación|duda) (?:razonable|normal|lógica|muy común)",
    r"eso es (?:duro|mucho|un problema|importante|serio|mucho dinero)", r"ahí está la clave",
)
_PLAYBACK = _patterns(
    r"(?:has|ha|habéis) (?:dicho|comentado|mencionado)", r"me (?:decías|decía|comentabas|comentaba)",
    r"dijiste", r"dijo usted", r"comentaste", r"mencionaste", r"mencionó",
    r"si (?:te|le|os) (?:entiendo|he entendido) bien", r"si no (?:te|le|os) (?:he )?entendido mal", r"o sea que",
    r"por lo que (?:me )?(?:dices|dice|cuentas|cuenta)", r"lo que (?:me )?(?:dices|dice|cuentas|cuenta) es",
    r"suena a que", r"cuando (?:dices|dice|decís)", r"gracias por (?:contármelo|compartirlo|contarlo)",
    r"debe (?:de )?ser (?:duro|difícil|frustrante|agotador)", r"así que (?:son|eso son|eso es) \w+",
)
# Waving away or arguing with what the buyer said: "sí, pero ...", "eso no es problema", "confíe en mí".
_DISMISSAL = re.compile(_lenient(
    r"^\W*(?:(?:sí|si|ya|vale|claro|bueno|ok|entiendo|lo entiendo|ya lo sé|eh|pues|mire|mira)\W+){1,4}pero(?!\w)"
    r"|^\W*pero (?:señor|señora|hombre|mujer|oiga|escuche|mire)(?!\w)"
    r"|(?<!\w)(?:eso no es (?:verdad|cierto|así|ningún problema|problema)|(?:se|te) equivoca\w*|está equivocad\w*"
    r"|confíe en mí|confía en mí|no (?:se preocupe|te preocupes) por eso|con (?:todo|el debido) respeto"
    r"|usted no (?:me )?entiende|no sabe lo que se pierde|cómo (?:sabe|sabes) que no (?:le|te) interesa"
    r"|eso no va a poder ser)(?!\w)"))

_OBJECTION_ANSWERS: dict[ObjectionKind, re.Pattern[str]] = {
    ObjectionKind.PRICE: _patterns(
        r"rentab\w*", r"retorno", r"se paga sol[oa]", r"amortiz\w*", r"ahorr\w*", r"valor", r"merece la pena",
        r"vale la pena", r"compensa", r"por (?:mes|usuario|licencia)", r"financiación", r"a plazos", r"cuotas?",
        r"opciones de pago", r"compar\w*", r"sale a cuenta",
    ),
    ObjectionKind.TIMING: _patterns(
        r"piloto", r"prueba", r"por fases", r"poco a poco", r"empezar (?:con|por) (?:algo )?pequeño", r"rápid\w*",
        r"semanas?", r"nos encargamos", r"lo hacemos nosotros",
        r"cuándo (?:te|le|os) (?:iría|vendría|va) (?:mejor|bien)",
        r"cuándo (?:sería|es) (?:mejor|buen)", r"(?:te|le) (?:llamo|vuelvo a llamar) (?:en|más tarde|otro|la semana)",
    ),
    ObjectionKind.COMPETITOR: _patterns(
        r"diferen\w*", r"a diferencia", r"compar\w*", r"integr\w*", r"junto con", r"cambi\w*",
        r"qué (?:te|le|os) gusta", r"mejor (?:en|que)", r"en paralelo", r"qué (?:echas|echa|echáis) en falta",
        r"qué pasó con",
    ),
    ObjectionKind.RISK: _patterns(
        r"piloto", r"prueba", r"garant\w*", r"referencias?", r"casos? de éxito", r"segur\w*", r"sin permanencia",
        r"sin compromiso", r"cancelar", r"de baja", r"soporte", r"(?:te|le|os) acompañamos", r"devolución", r"devolver",
    ),
    ObjectionKind.AUTHORITY: _patterns(
        r"quién más", r"incluir\w*", r"invitar\w*", r"reunión con", r"presentar\w*", r"resumen",
        r"una propuesta(?: por escrito)?", r"que se una", r"hablar (?:los tres|con él|con ella)",
        r"qué (?:necesitaría|necesita|le haría falta) (?:tu|su) (?:jefe|socio\w*|gerente)",
    ),
    ObjectionKind.STATUS_QUO: _patterns(
        r"qué pasaría", r"cuánto tiempo", r"qué (?:os|te|le) cuesta", r"si no cambia", r"impacto", r"horas",
        r"cuando (?:crezcas|crezcáis|crezca)", r"a medida que crezc\w*",
    ),
}
_EVIDENCE = _patterns(
    r"(?:clientes?|empresas|agencias|tiendas|equipos) (?:\w+ ){0,4}" + _PERCENT, r"pas(?:aron|ó) de \w+(?: \w+)? a",
    r"(?:te|le|os) pongo en contacto", r"hablar con (?:un|otro) cliente", r"referencias?", r"casos? de éxito",
    r"(?:tenía|tenían|tuvo|tuvieron) (?:la )?(?:misma|mismo) (?:duda|preocupación|problema|miedo)", r"piloto",
    r"prueba gratuita", r"periodo de prueba", r"sin compromiso", r"a diferencia de",
    r"(?:te|le|os) (?:enseño|muestro|mando|envío) (?:los |el |un )?(?:informe|resultados|datos|números|caso)",
    r"(?:está|están) (?:hech[oa]s?|pensad[oa]s?|diseñad[oa]s?) (?:para|específicamente)",
)
_CLARIFYING_QUESTION = _patterns(
    r"qué pasó", r"qué (?:es lo que )?(?:te|le|os) (?:preocupa|frena|echa para atrás)",
    r"qué (?:te|le) (?:hace|haría) dudar", r"qué (?:es|sería) lo que", r"a qué (?:te|se) refiere\w*",
    r"qué (?:quieres|quiere) decir", r"en qué sentido", r"comparado con qué", r"puedo preguntar(?:te|le)?",
    r"qué parte", r"qué (?:te|le|os) (?:gustó|disgustó|falló|faltó)", r"qué (?:haría|necesitarías|necesitaría) falta",
    r"qué tendría que (?:pasar|cambiar)",
)

_VALUE_PATTERNS: dict[ValueTheme, re.Pattern[str]] = {
    ValueTheme.COST_SAVINGS: _patterns(
        r"ahorr\w* (?:dinero|costes?|en la factura|\d+|euros|" + _NUMBER + r")", r"ahorro", r"reduc\w* (?:costes?"
        r"|gastos|la factura)", r"bajar (?:la factura|los costes|el gasto)", r"se paga sol[oa]", r"amortiz\w*",
        r"rentab\w*", r"retorno", r"(?:le|te|os) sale (?:bastante |mucho |un poco )?más barato",
        r"menos (?:dinero|gasto)", r"(?:sin|cero) coste",
    ),
    ValueTheme.TIME_SAVINGS: _patterns(
        r"ahorr\w* (?:tiempo|horas|días)", r"más rápid\w*", r"automátic\w*", r"automatiz\w*", r"en minutos",
        r"al momento", r"al instante", r"en tiempo real", r"menos (?:trabajo|papeleo|tiempo)",
        r"sin (?:papeleo|esperas)",
    ),
    ValueTheme.REVENUE_GROWTH: _patterns(
        r"(?:más|aumentar|crecer|subir|incrementar|mejorar) (?:las )?(?:ventas|clientes|ingresos|facturación|conversión"
        r"|pólizas|contratos)", r"vender más", r"cerrar más", r"captar más",
        r"no (?:pierdas|pierde|perder|perdáis) (?:ni un |más |ningún )?(?:clientes?|leads|oportunidades|ventas)",
    ),
    ValueTheme.RISK_REDUCTION: _patterns(
        r"menos (?:errores|fallos|incidencias|caídas|riesgos?)", r"(?:sin|cero) (?:errores|sorpresas|riesgos?)",
        r"evit\w* (?:errores|fallos|problemas|multas|sanciones|caídas)", r"cumplimiento", r"normativa",
    ),
    ValueTheme.PROOF: _patterns(
        r"clientes como (?:tú|usted|vosotros)", r"(?:empresas|agencias|tiendas) como la (?:tuya|suya|vuestra)",
        r"casos? de éxito", r"(?:uno|otro) de nuestros clientes", r"otro cliente", r"pas(?:aron|ó) de \w+(?: \w+)? a",
        r"(?:te|le|os) pongo en contacto", r"(?:tenía|tenían|tuvo) (?:la )?misma (?:duda|preocupación)",
    ),
}

_NEXT_STEP_PHRASES = (
    r"agend\w*", r"programar (?:una|la)", r"reserv\w* (?:una|la|hora|cita)", r"cita", r"invitación", r"convocatoria",
    r"demo", r"demostración",
    r"(?:te|le|os) (?:mando|envío|paso) (?:la |una |el )?(?:propuesta|presupuesto|contrato|oferta)", r"prueba",
    r"piloto", r"(?:llamada|reunión) de seguimiento", r"próximos? pasos?", r"siguiente paso",
    r"(?:el|este|el próximo) " + _WEEKDAY, r"(?:la semana|el mes) que viene",
)
_NEXT_STEP = _patterns(*_NEXT_STEP_PHRASES)
# What a seller proposes in speech is often just a day and a reason to meet, or showing the product.
_PROPOSAL = _patterns(
    *_NEXT_STEP_PHRASES, _WEEKDAY, r"quedamos", r"quedar", r"nos vemos",
    r"(?:una|otra) (?:llamada|reunión|videollamada)",
    r"(?:te|le|os) (?:llamo|vuelvo a llamar)", r"(?:me|nos) paso", r"pasarme", r"visita",
    r"hablamos (?:el|la|mañana|otro)",
    r"(?:\w+|\d+) minutos", r"una hora", r"(?:te|se) lo tramito",
    r"(?:te|le|os) (?:lo |la )?(?:enseño|muestro|preparo)",
    r"(?:quieres|quiere|queréis) (?:verlo|verla|ver cómo|probarlo)",
)
_AGREEMENT_PHRASES = (
    r"sí", r"vale", r"venga", r"de acuerdo", r"perfecto", r"claro", r"genial", r"me parece bien", r"me va bien",
    r"me viene bien", r"hecho", r"trato hecho", r"adelante", r"por supuesto", r"ok", r"okey", r"estupendo",
    r"sin problema", r"me apunto", r"me interesa", r"enséñamelo", r"enséñemelo",
)
_AGREEMENT = _patterns(*_AGREEMENT_PHRASES)
# In reply to a proposal, shorter answers agree too: "el martes me va", "allí estaré", "lo apunto".
_AGREEMENT_TO_PROPOSAL = _patterns(
    *_AGREEMENT_PHRASES, r"me va", r"me viene", r"(?:está|es) bien", r"nos vemos", r"allí estaré", r"ahí estaré",
    r"lo (?:apunto|anoto)",
)
# The buyer deciding to buy, whatever was asked: "pues me lo llevo", "lo contratamos".
_BUYS = _patterns(
    r"me (?:lo|la|los|las) llevo", r"(?:lo|la) compro", r"lo quiero", r"lo (?:contrato|contratamos|hacemos)",
    r"lo (?:firmo|firmamos)", r"(?:mándame|mándeme|envíame|envíeme|pásame|páseme) (?:el|la) (?:contrato|factura)",
    r"adelante con", r"cerramos", r"trato hecho", r"me quedo con (?:él|ella|este|esta|ese|esa)",
)
# A question asking when the step happens, which agrees to it: "¿cuándo empezamos?", "¿a qué hora?".
_ASKS_WHEN = _exact(r"cuándo", r"qué (?:día|hora|fecha)", r"(?:cómo de|qué tan) (?:pronto|rápido)")
# A clear no: pressing on after one is pushing.
_REFUSAL_PHRASES = (
    r"no,? gracias", r"no (?:me|nos) interesa", r"no (?:quiero|queremos)", r"no (?:me|nos) (?:llame|llames|llamen)",
    r"no (?:vuelva|vuelvas) a llamar", r"(?:bórreme|bórrenme|quíteme|quítenme) de", r"(?:voy|tengo) a colgar",
    r"tengo que (?:irme|dejarte|dejarle|colgar)", r"ya (?:le|te) (?:dije|he dicho) que no", r"(?:le|te) digo que no",
    r"no (?:voy|vamos) a (?:cambiar|contratar|comprar|firmar)", r"no (?:puedo|podemos) (?:firmar|comprometer\w*)",
    r"no estamos (?:contratando|comprando|buscando)", r"(?:déjeme|déjame) en paz", r"mejor lo dejamos",
)
_REFUSAL = _patterns(*_REFUSAL_PHRASES)
# A no, or a soft brush-off that leaves nothing agreed.
_DECLINE = _patterns(
    *_REFUSAL_PHRASES, *_THINK_IT_OVER, r"ya (?:te|le) (?:diré|digo algo|llamo|llamaré)", r"ahora no", r"más adelante",
    r"quizás?", r"tal vez", r"a lo mejor", r"no (?:lo )?sé", r"ya (?:veremos|veré)", _SEND_ME_INFO,
    r"no estoy segur[oa]", r"primero (?:tengo|tendría|necesito|quiero)", r"si me decido",
)
_OPENING_NO = re.compile(_lenient(
    r"^\W*no(?!\w)(?![, ]+(?:pasa nada|hay (?:ningún )?problema|te preocupes|se preocupe))"))
# A buyer sentence broken off mid-way by the seller: it ends on a word nobody ends a sentence on.
_CUT_OFF = re.compile(r"(?<!\w)(?:a|al|de|del|el|la|los|las|un|una|en|con|para|por|y|o|que|mi|mis|tu|su|sus|nuestro"
                      r"|nuestra|porque|es|son|era)\s*$")
_LIST_JOINER = re.compile(r"^\s*(?:y|e|o|u|más|además)\s+")

_WORD = re.compile(r"\w+")
_STOPWORDS = frozenset("""
este esta esto estos estas ese esa eso esos esas aquel aquella para pero porque como cómo cuando cuándo donde dónde
desde hasta sobre entre tiene tienes tengo tenemos tienen tenía hace hacer hago hacemos está están estás estoy estamos
estaba eres somos sois muy más menos mucho mucha muchos muchas poco poca todo toda todos todas nada algo alguien alguna
algún ningún ninguna otro otra otros otras mismo misma también tampoco ahora entonces luego aquí allí bien bueno buena
vale claro pues solo sólo cada cual cuál quien quién puede puedo puedes podemos pueden sabe saber quiero quieres quiere
queremos gracias hola buenas días usted ustedes vosotros nosotros ellos ellas suyo suya tuyo tuya nuestro nuestra
vuestro vuestra señor señora verdad casi cosa cosas decir digo dice dices mira mire oiga sería había haber hemos
habéis perdona perdone vaya genial perfecto además siempre nunca luego antes después mejor peor cuanto tanto
""".split())
STEM_LETTERS = 6  # Spanish inflects by its endings: the first letters of a word stand for its family


def _content(text: str) -> set[str]:
    """A text's content words, each reduced to its first STEM_LETTERS letters ("clientes", "cliente": "client")."""
    return {word[:STEM_LETTERS] for word in _WORD.findall(text)
            if len(word) >= 4 and not word.isdigit() and word not in _STOPWORDS}


# What a coach listens for (``coaching``).
_HESITATION = _patterns(
    r"no (?:me|nos) interesa", r"no (?:tengo|tenemos) tiempo", r"no (?:lo )?(?:necesito|necesitamos|quiero|queremos)",
    r"no,? gracias", r"no (?:estoy|estamos) (?:segur[oa]s?|convencid[oa]s?|preparad[oa]s?)", *_THINK_IT_OVER,
    r"(?:mirar|comparar) (?:otras|otros|en otros|precios|por ahí)", r"(?:voy|vamos) a pasar", _LEAVING,
    r"no tiene sentido", r"car[oa]s?", r"carísim[oa]", r"se (?:me|nos) va (?:de|del) (?:presupuesto|precio)",
    r"se (?:me|nos) va", r"más de lo que", r"demasiado", r"no (?:puedo|podemos) (?:pagar|permitírmelo)",
    r"(?:me|nos) preocupa", r"miedo", r"no (?:me|nos) fío",
    r"(?:llámame|llámeme) (?:más tarde|luego|otro día|la semana)",
    _SEND_ME_INFO, r"algo más barato", r"(?:estoy|estamos) (?:content[oa]s?|bien|satisfech[oa]s?) con", _ALREADY,
    r"(?:tengo|tenemos) permanencia", r"no es (?:buen|el) momento", r"mal momento",
    r"(?:estoy|estamos|ando) (?:ocupad[oa]s?|liad[oa]s?|trabajando)", r"me pilla (?:trabajando|mal|fatal|ocupad[oa])",
    r"ahora no", r"más adelante", r"no es (?:una )?prioridad", r"no es lo que (?:necesito|busco|buscamos)",
    r"no creo", r"(?:tengo|tendría|tenemos) que (?:consultarlo|hablarlo|comentarlo)", r"no sirven?",
    r"no (?:funciona|funcionó|funcionaba|funcionan)", r"(?:ninguna|ningún) (?:queja|problema)", r"no puede ser",
    r"no (?:voy|vamos) a cambiar",
)
_COACH_REFUSAL = _patterns(
    r"no (?:me|nos) interesa", r"no,? gracias", r"no (?:quiero|queremos)", _LEAVING, r"(?:voy|vamos) a pasar",
    r"no (?:me|nos) (?:llame|llames|llamen)", r"(?:bórreme|bórrenme|quíteme|quítenme) de", r"(?:voy|tengo) a colgar",
    r"cuelg\w*", r"ya (?:le|te) (?:dije|he dicho) que no", r"(?:le|te) digo que no", r"mejor lo dejamos",
    r"no (?:voy|vamos) a cambiar",
)
_ARGUES = re.compile(_lenient(
    r"^\W*(?:(?:sí|si|ya|vale|claro|bueno|entiendo|lo entiendo|ya lo sé|mire|mira)\W+){1,3}pero(?!\w)"
    r"|^\W*pero (?:señor|señora|hombre|oiga|escuche|mire)(?!\w)"
    r"|(?<!\w)(?:por qué no (?:me|quiere|quieres)|explí(?:queme|came) por qué|usted no sabe|no sabe lo que"
    r"|confíe en mí|confía en mí|eso no es (?:verdad|cierto|así)|(?:se|te) equivoca\w*"
    r"|(?:déjeme|déjame) (?:terminar|acabar|explicar)|vamos,? hombre|venga,? (?:hombre|que)"
    r"|cómo (?:sabe|sabes) que no|eso no va a poder ser|no puede ser)(?!\w)"))
_PRESSES = _patterns(
    r"(?:lo )?tomo (?:eso )?como un sí", r"es un sí", r"(?:le|te) (?:doy|damos) de alta", r"firmamos (?:hoy|ya|ahora)",
    r"solo (?:hoy|vale hasta)", r"la oferta (?:solo|acaba|termina|caduca)", r"(?:le|te) vuelvo a llamar",
    r"si me cuelga\w*", r"(?:sigue|siguen) (?:llamando|insistiendo)", r"vuelve a llamar", r"insist\w*",
    r"(?:me|nos) tiene que decir (?:algo|que sí)", r"un momentito", r"dos minutitos", r"solo (?:un|dos) minut\w*",
)
_ACKNOWLEDGES = _patterns(
    r"(?:lo |te |le |os )?entiendo", r"(?:te |le |lo )?comprendo", r"(?:tienes|tiene|tenéis) (?:toda la )?razón",
    r"es (?:normal|lógico|comprensible)", r"tiene (?:lógica|sentido)", r"me parece (?:bien|justo|lógico|normal)",
    r"(?:te|le|os|se lo) agradezco", r"gracias por (?:decírmelo|contármelo|su sinceridad|tu sinceridad|avisar"
    r"|la sinceridad)", r"perdone", r"perdona", r"disculpe", r"disculpa", r"lo siento", r"no pasa nada",
    r"ningún problema", r"sin problema", r"no hay problema", r"(?:tómate|tómese) (?:tu|su) tiempo", r"qué faena",
    r"ya veo", r"me (?:lo )?imagino", r"entendido", r"de acuerdo",
)
# A graceful check after a no, or a question that looks behind the hesitation.
_EXPLORES = _patterns(
    r"(?:es|sería) (?:por|un tema de) (?:el )?(?:precio|momento|tiempo)", r"o (?:es que )?no (?:te|le|os) encaja",
    r"no (?:te|le|os) encaja", r"qué (?:te|le|os) (?:frena|preocupa|haría falta|echa para atrás|hace dudar)",
    r"qué haría falta", r"qué (?:necesitarías|necesitaría|necesitaríais)", r"qué pasó", r"a qué (?:te|se) refiere\w*",
    r"qué (?:quiere|quieres) decir", r"cuando (?:dices|dice)", r"es justo decir", r"puedo preguntar(?:te|le)?",
    r"qué (?:tenías|tenía|teníais) pensado", r"qué (?:buscas|busca|buscáis|esperas|espera|esperáis)",
    r"qué (?:tendría|podría) que cambiar", r"qué cambiaría", r"qué es lo que", r"en qué sentido",
    r"por qué lo (?:dice|dices)", r"no tiene sentido que cambie\w*",
    r"si con (?:ellos|ellas|lo que tienes|lo que tiene) no",
)
# A question pointing back at what the buyer just said ("¿por qué lo dice?", "¿a qué se refiere?", "¿y eso?") or
# inviting them to say more ("cuénteme").
# A gain claimed as a rate: "un trescientos por ciento de retorno", "reduce el trabajo un ochenta por ciento".
_RATE = _NUMBER + r" ?(?:%|por ?ciento|veces)"
_CLAIMED_RATE = _patterns(
    _RATE + r" (?:de )?(?:retorno|rentabilidad|más|menos|mejor|mayor|menor|de mejora|de aumento|de ahorro)",
    r"(?:reduc\w*|aument\w*|mejor\w*|ahorr\w*|recort\w*|increment\w*)(?: [\w']+){0,4} (?:en |un |hasta un )" + _RATE,
)
# Customers like the buyer's, behind a claimed rate: "empresas como la suya", "clientes parecidos".
_COMPARABLE = _patterns(r"(?:empresas|clientes|equipos) (?:como (?:la |el )?(?:suya|suyo|tuya|tuyo|vuestra|vuestro)"
                        r"|parecid[oa]s|similares)")
_OPENS_UP = _patterns(r"eso", r"esto", r"lo dice", r"refiere", r"así", r"por qué", r"cuénte\w*", r"cuéntame\w*")
_FIT_CHECK = _patterns(
    r"o no (?:te|le|os) encaja", r"no (?:te|le|os) encaja", r"no tiene sentido que cambie\w*", r"es justo decir",
    r"es eso lo que", r"si no (?:te|le|os) (?:interesa|encaja)",
    r"si con (?:ellos|ellas|lo que tienes|lo que tiene) no",
)
_EXITS = _patterns(
    r"(?:perdone|perdona|disculpe|disculpa) (?:la )?molestia", r"gracias por (?:su|tu) tiempo",
    r"no (?:te|le|os) molesto más", r"(?:te|le|os) dejo (?:tranquil[oa]s?|seguir|trabajar)",
    r"si (?:cambia|cambias|cambiáis|algo cambia|en algún momento)", r"(?:te|le|os) dejo mi (?:número|tarjeta|contacto)",
    r"que (?:vaya|te vaya|le vaya|os vaya) bien", r"que (?:tenga|tengas|tengáis) (?:un )?buen día",
    r"aquí (?:estaré|estoy|estamos)", r"cuando (?:quieras|quiera|queráis)", r"(?:tómate|tómese) (?:tu|su) tiempo",
)
# Proof and ways to try it that answer a doubt; a bare figure is a claim, not proof.
_PROOF = _patterns(
    r"garant\w*", r"piloto", r"prueba", r"referencias?", r"casos? de éxito", r"(?:te|le|os) pongo en contacto",
    r"se paga sol[oa]", r"amortiz\w*", r"clientes (?:como|parecidos|similares)",
    r"sin (?:coste|compromiso|permanencia)",
    r"incluid[oa]s?", r"devoluci\w*", r"paso a paso", r"la primera semana",
    r"(?:está|están) (?:hech[oa]s?|pensad[oa]s?|diseñad[oa]s?) para",
)
_FIGURE = _patterns(_NUMBER, r"doble", r"mitad", r"millón", r"millones")
# A concession traded for something rather than given away: "solo si firma hoy".
_TRADES = _patterns(
    r"solo si", r"siempre que", r"si (?:me |nos )?(?:firmas|firma|contratas|contrata|te comprometes|se compromete)",
    r"a cambio", r"con la condición",
)
_DISCOUNTS = _patterns(
    r"descuentos?", _NUMBER + r" ?(?:%|por ?ciento) (?:de descuento|menos)", r"más barat[oa]s?", r"rebaj\w*",
    r"(?:de|en) oferta", r"(?:te|le) lo dejo (?:en|por)", r"(?:te|le) hago (?:un )?(?:buen )?precio",
    r"sin (?:coste|cargo)", r"(?:bajar|bajamos|bajo|bajarle|bajarte) el precio", r"gratis",
)
# Questions that ask for a decision rather than about the buyer.
_CLOSING_QUESTION = _patterns(
    r"(?:lo )?tomo como un sí", r"es un sí", r"(?:te|le) (?:doy|damos) de alta", r"(?:te|le) (?:apunto|reservo)",
    r"(?:quieres|quiere|queréis) que", r"(?:te|le|os) gustaría (?:verlo|probarlo|ver|llevarte|llevárselo)",
    r"(?:te|le|os) va bien (?:el|una|la)", r"hacemos (?:una|la)", r"agendamos", r"quedamos",
    r"qué (?:te|le|os) parece si", r"(?:quieres|quiere|queréis) (?:verlo|verla|probarlo)", r"lo (?:tramito|preparo)",
)
# Spanish drops the subject ("¿con qué compañía?", "¿y internet?"), so a seller's question is taken to be about the
# buyer unless it asks leave for the seller ("¿puedo preguntarle?", "¿me permite un minuto?").
_ABOUT_BUYER = re.compile(_lenient(r"^(?!.*(?<!\w)(?:puedo|podemos|me permite|me deja|nos permite)(?!\w))"))
_OPEN = _exact(*_QUESTION_WORDS, *_TELL_ME)
# Playing back what the buyer said: "si te he entendido bien", "o sea que son quince al día", "¿correcto?".
_COACH_PLAYBACK = re.compile(_PLAYBACK.pattern + "|" + _patterns(
    r"(?:déjame|déjeme) (?:ver|comprobar) si", r"es así", r"lo he entendido bien", r"entonces (?:lo que|son|es)",
).pattern + r"|(?<!\w)correcto\?")
_OUTCOME = _patterns(
    r"ahorr\w*", r"reduc\w*", r"más rápid\w*", r"menos", r"más", r"retorno", r"rentab\w*", r"se paga sol[oa]",
    r"amortiz\w*", r"merece la pena", r"vale la pena", r"(?:te|le|os) cuesta", r"gan\w*", r"en vez de",
    r"en lugar de", r"soluciona\w*", r"resuelve\w*", r"arregla\w*", r"así (?:puedes|puede|podéis|no)",
    r"para que (?:puedas|pueda|podáis|no)", r"eso es (?:justo|exactamente)", r"ahí está la clave", r"hecho para",
    r"al momento", r"al instante",
)

SPANISH = Phrases(
    question_opening=_QUESTION_OPENING, open_question=_OPEN_QUESTION_WORDS, lead_in=_LEAD_IN,
    later_question=_LATER_QUESTION, not_a_question=_NOT_A_QUESTION, points_back=_POINTS_BACK,
    leading_question=_LEADING_QUESTION, topics=_TOPIC_PATTERNS, objections=_OBJECTION_PATTERNS,
    acknowledgement=_ACKNOWLEDGEMENT, playback=_PLAYBACK, dismissal=_DISMISSAL, objection_answers=_OBJECTION_ANSWERS,
    evidence=_EVIDENCE, clarifying_question=_CLARIFYING_QUESTION, value=_VALUE_PATTERNS, next_step=_NEXT_STEP,
    proposal=_PROPOSAL, agreement=_AGREEMENT, agreement_to_proposal=_AGREEMENT_TO_PROPOSAL, buys=_BUYS,
    asks_when=_ASKS_WHEN, refusal=_REFUSAL, decline=_DECLINE, opening_no=_OPENING_NO, cut_off=_CUT_OFF,
    date_time=_DATE_TIME,
    list_joiner=_LIST_JOINER, content=_content,
    coaching=CoachingPhrases(
        hesitation=_HESITATION, refusal=_COACH_REFUSAL, argues=_ARGUES, presses=_PRESSES, acknowledges=_ACKNOWLEDGES,
        explores=_EXPLORES, fit_check=_FIT_CHECK, exits=_EXITS, proof=_PROOF, figure=_FIGURE, trades=_TRADES,
        discounts=_DISCOUNTS, closing_question=_CLOSING_QUESTION, about_buyer=_ABOUT_BUYER, open_question=_OPEN,
        playback=_COACH_PLAYBACK, outcome=_OUTCOME, content=_content, opens_up=_OPENS_UP,
        claimed_rate=_CLAIMED_RATE, comparable=_COMPARABLE,
    ),
)
