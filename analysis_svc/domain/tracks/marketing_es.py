"""The marketing track's Spanish phrases: the same kinds of move and sorts of turn as ``marketing``'s English ones,
written from how campaigns are pitched and judged in Spanish (Spain and Latin America, spoken, with the English terms
marketers keep: "target", "insight", "KPI"), not translated. An accented letter also matches without its accent, as
speech-to-text sometimes drops it."""

from __future__ import annotations

from analysis_svc.domain.patterns import spanish_words as phrases
from analysis_svc.domain.tracks.rubric import Moves
from calls.turns import Role

LANGUAGE = "es"

_NUMBER = (r"(?:\d[\d,.]*|un|una|dos|tres|cuatro|cinco|seis|siete|ocho|nueve|diez|veinte|treinta|cuarenta|"
           r"cincuenta|cien)")
_MONTHS = (r"(?:enero|febrero|marzo|abril|mayo|junio|julio|agosto|septiembre|setiembre|octubre|noviembre|diciembre|"
           r"primavera|verano|otoño|invierno|navidad|rebajas|vuelta al cole|black friday)")

_AUDIENCE = {
    "segment": phrases(r"(?:público|cliente|audiencia|mercado) objetivo", r"target", r"segment\w*", r"buyer personas?",
                       r"(?:nuestr[oa]|el|la) persona tipo", r"cliente ideal", r"icp", r"(?:de|entre) " + _NUMBER
                       + r" (?:a|y) " + _NUMBER + r" años", r"(?:padres|madres|compradores|dueños|propietarios|"
                       r"profesionales|clientes|usuarios|autónomos|pymes|jóvenes|familias)\w* (?:primerizos?|"
                       r"jóvenes|urbanos|que trabajan|de pymes?|actuales|perdidos|inactivos)", r"(?:gente|personas|"
                       r"clientes|compradores|padres|madres|dueños|usuarios) que"),
    "behaviour": phrases(r"(?:quieren|necesitan|temen|les preocupan?|les importan?|"
                         r"pasan (?:el |su |mucho )?tiempo|sienten|odian|les encanta|usan|compran|"
                         r"gastan|buscan|leen|confían)", r"(?:sus|los) (?:puntos de dolor|frustraciones|"
                         r"motivaciones|hábitos|miedos|preocupaciones|pain points)", r"jobs? to be done",
                         r"lo que (?:de verdad |realmente )?(?:quieren|les importa|les quita el sueño)"),
    "evidence": phrases(r"investigación", r"estudios?", r"encuestas?", r"(?:los |nuestros |vuestros |tus |sus )?datos "
                        r"(?:dicen|muestran|indican)", r"entrevistas? (?:con|a)", r"focus groups?",
                        r"grupos? de discusión", r"(?:descubrimos|vimos|aprendimos|probamos|preguntamos|testeamos)",
                        r"analítica", r"(?:datos|volumen|tendencias) de búsqueda", r"escucha social",
                        r"(?:reseñas|opiniones) (?:de (?:los )?clientes)?", r"insights?"),
    "asks_first": phrases(r"quién(?:es)? (?:son|es) (?:vuestr[oa]s?|tus|sus) (?:mejores |actuales |típicos |"
                          r"principales )?(?:clientes|compradores|público)", r"qué sab(?:éis|es|e usted|en) (?:ya )?"
                          r"(?:de|sobre)", r"qué (?:dicen|dice) (?:vuestros|tus|sus) (?:datos|estudios)",
                          r"quién (?:compra|os compra|te compra|le compra)", r"a quién (?:queréis|quieres|quiere) "
                          r"llegar", r"(?:cuéntame|cuéntenme|háblame|háblenme|contadme) (?:más )?(?:de|sobre) "
                          r"(?:vuestros|tus|sus) (?:clientes|compradores|público)"),
}
_EVERYONE = phrases(r"todo el mundo", r"(?:a )?todos los públicos", r"público general", r"(?:el )?gran público",
                    r"mercado (?:de )?masas", r"cualquiera (?:que|persona)")

_IDEA = {
    "idea": phrases(r"(?:la|nuestra|mi) gran idea",
                    r"(?:la |nuestra |mi )?(?:gran )?idea (?:central|creativa|principal|de campaña)", r"el concepto",
                    r"(?:una|la) campaña (?:que se llama|llamada)", r"claim", r"eslogan", r"lema", r"(?:el )?(?:hilo "
                    r"conductor|territorio|gancho)", r"en (?:una|pocas) (?:frase|palabras|línea)"),
    "position": phrases(r"posicion\w*", r"promesa de (?:la )?marca", r"(?:la )?marca (?:representa|defiende|es)",
                        r"valores de (?:la )?marca", r"propósito de (?:la )?marca", r"personalidad de (?:la )?marca",
                        r"tono (?:de voz|de la marca)", r"lo que (?:la|vuestra|tu|su) marca"),
    "difference": phrases(r"a diferencia de", r"competencia", r"competidor\w*", r"(?:destaca|destacar|sobresal\w*)",
                          r"diferenci\w*", r"(?:os|nos|le|la|lo|te) distingue", r"(?:la )?única (?:marca|que|empresa)",
                          r"(?:el )?único (?:que)", r"apropiar(?:nos|se|os) de", r"ser dueños de"),
    "from_insight": phrases(r"por eso", r"por (?:eso|ello) (?:mismo|la idea)", r"porque (?:ellos|vuestros clientes|"
                            r"tus clientes|la gente|el público)", r"(?:el|nuestro) insight (?:es|era)",
                            r"(?:parte|se apoya|se basa|tira) (?:de|en)"),
    "shown": phrases(r"(?:el anuncio|el spot|la pieza|el vídeo) (?:empieza|abre|se ve|suena|sería)",
                     r"(?:imaginad|imagina|imagínate|imagínense)", r"visuales?", r"(?:un|el|una|la) (?:spot|vídeo|"
                     r"anuncio|valla|cartel|marquesina|titular|mock[- ]?up|maqueta|storyboard)s?",
                     r"(?:el|la) (?:primer[oa]?|plano de apertura) (?:plano|escena|imagen)"),
}
_NO_IDEA = phrases(r"hacerse viral", r"(?:que sea|se haga) viral", r"viralizar\w*", r"(?:dar|generar|aumentar|"
                   r"ganar|crear) (?:más )?(?:notoriedad|visibilidad|conocimiento de marca|awareness)",
                   r"que se hable de (?:nosotros|la marca|vosotros)", r"hacer ruido", r"buzz")

_PLAN = {
    "channels": phrases(r"tiktok", r"instagram", r"youtube", r"linkedin", r"facebook",
                        r"(?:búsqueda|buscadores)(?: de pago)?", r"google ads", r"seo", r"sem",
                        r"(?:social|redes sociales) de pago",
                        r"redes sociales", r"e-?mail(?:ing)?", r"correo", r"publicidad exterior",
                        r"televisión", r"tele", r"tv", r"radio", r"podcasts?",
                        r"influencers?", r"creadores?", r"prensa", r"relaciones públicas", r"eventos?", r"display",
                        r"punto de venta", r"en tienda", r"buzoneo", r"alianzas?", r"patrocinios?"),
    "reasons": phrases(r"porque (?:es|ahí es) donde", r"donde (?:están|pasan el tiempo|se mueven|buscan)(?: (?:ellos|"
                       r"vuestros clientes|tus clientes|el público))?", r"(?:ellos|vuestros clientes|el público) "
                       r"(?:usan|ven|leen|escuchan|pasan (?:el |su )?tiempo)", r"(?:el )?(?:mejor|canal adecuado) "
                       r"(?:canal )?(?:para llegar|para)"),
    "budget_split": phrases(_NUMBER + r" ?(?:%|por ?ciento) (?:del (?:presupuesto|gasto|inversión)|en|a|para|va)",
                            r"(?:€|\$) ?" + _NUMBER, _NUMBER + r" ?(?:mil|k|millones?) (?:de )?(?:euros|dólares|"
                            r"pesos)?", _NUMBER + r" (?:euros|dólares|pesos)", r"(?:repart\w*|dividi\w*|distribu\w*) "
                            r"(?:el )?(?:presupuesto|gasto|inversión)", r"asign\w*", r"el (?:grueso|resto) del "
                            r"(?:presupuesto|gasto|inversión)"),
    "phases": phrases(r"fases?", r"oleadas?", r"teaser", r"(?:la )?(?:semana|día|mes|fecha) de lanzamiento",
                      r"mantenimiento", r"(?:primera|segunda|tercera|siguiente) (?:semana|fase|oleada)",
                      r"(?:primer|segundo|tercer|siguiente) (?:mes|trimestre)", r"q[1-4]", r"en " + _MONTHS,
                      r"(?:semana|mes) " + _NUMBER, r"(?:antes de|para) " + _MONTHS, r"(?:una|un|dos|tres|seis|\d+) "
                      r"(?:semanas|meses) de (?:campaña|emisión)"),
    "needs": phrases(r"(?:necesitaremos|necesitaríamos|necesitamos|necesito) (?:de (?:vosotros|ti|usted)|vuestr[oa]s?|"
                     r"tus|sus|que (?:nos|me))", r"acceso a (?:vuestr[oa]s?|tus|sus|la|el)", r"(?:vuestros|tus|sus|"
                     r"los) (?:materiales|assets|manuales de marca|guías de estilo)",
                     r"(?:vuestra|tu|su) (?:aprobación|"
                     r"validación)", r"(?:vuestro|tu|su) equipo (?:de producto|comercial|de ventas)",
                     r"por (?:vuestra|tu|su) parte"),
}
_EVERYWHERE = phrases(r"en todas partes", r"en todos (?:los )?(?:canales|sitios|medios)", r"en todas las "
                      r"(?:plataformas|redes)", r"en cada (?:canal|plataforma)")

_MEASUREMENT = {
    "objective": phrases(r"(?<!público )(?<!mercado )(?<!cliente )objetivos?",
                         r"(?:la |nuestra |principal )?meta (?:es|sería)", r"kpis?",
                         r"métrica (?:principal|estrella|norte)", r"north star",
                         r"(?:el )?éxito (?:sería|es|significa)", r"(?:lo )?(?:mediremos|vamos a medir|juzgaremos)"),
    "target": phrases(r"(?:metas?|cifras?) (?:de|a alcanzar)", r"punto de partida", r"línea base", r"baseline",
                      r"(?:de|desde) " + _NUMBER + r" ?(?:%|por ?ciento)? (?:a|hasta)", r"(?:aumentar|crecer|subir|"
                      r"reducir|bajar|recortar|mejorar)\w* (?:\w+ )?(?:en|un) " + _NUMBER, _NUMBER + r" ?(?:%|por "
                      r"?ciento) (?:más|de (?:aumento|subida|crecimiento|conversión|mejora))", _NUMBER + r" (?:nuevos? "
                      r")?(?:registros|leads|clientes|ventas|descargas|reservas|altas|pruebas)",
                      r"coste por (?:adquisición|lead|registro|alta|instalación)", r"cpa", r"cpl", r"roas", r"retorno"),
    "attribution": phrases(r"atribu\w*", r"grupos? de control", r"(?:región|mercado|zona) de control",
                           r"holdouts?", r"tests? a/?b", r"a/b", r"test(?:s)? (?:divididos?|de mercado)",
                           r"utms?", r"(?:enlaces|códigos|píxeles?) de seguimiento", r"códigos? (?:promocionales?|"
                           r"de descuento)", r"incrementalidad", r"(?:estudio|test) de (?:lift|incremento)",
                           r"mercados? (?:comparables|emparejados)", r"geo[- ]?tests?"),
    "early_read": phrases(r"(?:la |tras la |después de la |a la )?primera (?:semana|quincena)", r"(?:el |tras el |"
                          r"después del |al )?primer mes", r"(?:las |a las )?(?:dos|primeras) semanas",
                          r"(?:señales|indicadores|resultados|lecturas) (?:tempran[oa]s|adelantad[oa]s)",
                          r"seguimiento (?:semanal|diario)", r"informes? (?:semanales?|diarios?)", r"dashboards?",
                          r"cuadros? de mando"),
    "fallback": phrases(r"si (?:no|eso no|la campaña no|esto no) (?:funciona|rinde|llega|cumple|va bien)",
                        r"si (?:rinde|funciona) (?:peor|por debajo)",
                        r"(?:moveríamos|pasaríamos|cortaríamos|pararíamos|pausaríamos|reasignaríamos|cambiaríamos|"
                        r"moveremos|pasaremos|cortaremos|pararemos|pausaremos|cambiaremos)",
                        r"(?:movemos|pasamos|cortamos|paramos|pausamos|cambiamos) (?:el |la )?(?:presupuesto|"
                        r"inversión|gasto|dinero|campaña)", r"umbral(?:es)?", r"(?:cae|baja) por debajo",
                        r"plan b", r"optimiz\w*", r"reasign\w*", r"criterios? de (?:corte|parada)"),
}
_OVERPROMISES = phrases(r"garantiz\w*", r"(?:os|te|le|les) garantizo", r"(?:seguro|sin duda) que (?:se hace viral|"
                        r"funciona|vende)", r"no (?:puede|va a) fallar", r"(?:es )?(?:un éxito|una apuesta) segur[oa]",
                        r"(?:va a funcionar )?sí o sí")

_HANDLING = {
    "asks": phrases(r"cuál(?:es)? (?:es|son) (?:vuestr[oa]s?|tus|sus) (?:objetivos?|metas?|presupuesto|limitaciones|"
                    r"restricciones|prioridades|plazos|mayor)", r"(?:cuánto|qué) presupuesto", r"(?:cuánto|qué) "
                    r"(?:podéis|puedes|puede) (?:gastar|invertir)", r"cómo sería (?:el )?éxito",
                    r"qué (?:os|te|le) (?:preocupa|inquieta)", r"(?:puedo|podría) preguntar", r"qué (?:habéis|has|"
                    r"ha) probado"),
    "answers": phrases(r"(?:la razón|el motivo) (?:es|de)", r"porque", r"por ejemplo", r"(?:los |nuestros )?(?:datos|"
                       r"resultados|caso de éxito) (?:muestran|dicen|de)", r"(?:lo )?(?:hicimos|vimos|probamos) "
                       r"(?:con|en) (?:otro cliente|otra marca|algo parecido)"),
    "concedes": phrases(r"(?:buen|muy buen) (?:punto|apunte)", r"buena pregunta", r"(?:un )?punto (?:justo|válido)",
                        r"(?:tienes|tiene|tenéis) razón", r"es justo", r"(?:me|nos) parece justo",
                        r"(?:podemos|podríamos|vamos a) (?:ajustar|cambiar|adaptar|quitar|reducir|recortar) (?:eso|"
                        r"esa|ese|la|el)", r"(?:lo )?(?:replanteamos|revisamos|rehacemos|repensamos)",
                        r"(?:lo )?(?:tomo|tomamos) nota"),
    "next_step": phrases(r"(?:próximos|siguientes) pasos?", r"(?:os|te|le) (?:mando|envío|paso|mandamos|enviamos) "
                         r"(?:la|el|una|un)", r"seguimiento", r"(?:agendar|agendamos|montar|montamos|programar) (?:una|"
                         r"un|la|el)", r"taller", r"workshop", r"(?:el|este|el próximo) (?:lunes|martes|miércoles|"
                         r"jueves|viernes)", r"la semana que viene", r"propuesta (?:para el|el|antes del)"),
}
_DISMISSES = phrases(r"(?:confía|confíe|confiad) en (?:mí|nosotros)", r"no (?:te|se|os) preocupe\w*", r"(?:eso )?no es "
                     r"(?:un )?problema", r"con (?:todo|el debido) respeto", r"no (?:lo )?(?:entiendes|entiende|"
                     r"entendéis)", r"como (?:ya )?(?:he dicho|dije)", r"déjame (?:terminar|acabar)",
                     r"(?:eso )?(?:no viene al caso|es irrelevante|no es relevante)")

MOVES = Moves(Role.USER, {"audience": _AUDIENCE, "idea": _IDEA, "plan": _PLAN, "measurement": _MEASUREMENT,
                          "handling": _HANDLING},
              {"everyone": _EVERYONE, "no_idea": _NO_IDEA, "everywhere": _EVERYWHERE, "overpromises": _OVERPROMISES,
               "dismisses": _DISMISSES})
