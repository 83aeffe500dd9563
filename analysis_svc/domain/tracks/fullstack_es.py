"""The full-stack track's Spanish phrases: the same kinds of move and sorts of turn as ``fullstack``'s English ones,
written from how full-stack interviews are held in Spanish (Spain and Latin America, spoken, with the English terms
engineers keep: "endpoint", "cache", "bundle"), not translated. An accented letter also matches without its accent, as
speech-to-text sometimes drops it."""

from __future__ import annotations

from analysis_svc.domain.patterns import spanish_words as phrases
from analysis_svc.domain.tracks.rubric import Moves
from calls.turns import Role

LANGUAGE = "es"

_NUMBER = r"(?:\d[\d,.]*|un|una|dos|tres|cuatro|cinco|diez|veinte|cincuenta|cien|mil|un millón)"

_DESIGN = {
    "requirements": phrases(r"requisitos?", r"requerimientos?", r"cuántos (?:usuarios|peticiones|escrituras|lecturas)",
                            r"qué (?:escala|carga|volumen)", r"(?:más|muchas más) lecturas que escrituras",
                            r"(?:más|muchas más) escrituras que lecturas", r"(?:no )?funcionales",
                            r"(?:voy a |vamos a |déjame )?(?:asumir|suponer)", r"supuestos?", r"asumo que",
                            r"antes de (?:diseñar|empezar|dibujar)", r"casos de uso"),
    "parts": phrases(r"balanceador(?:es)? de carga", r"load balancers?", r"(?:servidor(?:es)?|capa) (?:de )?(?:api|"
                     r"aplicación|web)", r"api gateway", r"bases? de datos", r"caché", r"cachés?", r"caches?", r"redis",
                     r"colas?", r"cdn", r"workers?", r"trabajadores en segundo plano", r"almacenamiento de objetos",
                     r"s3", r"postgres\w*", r"réplicas?", r"shard\w*", r"particion\w*"),
    "flow": phrases(r"(?:la )?(?:petición|request|información|el dato|los datos|el evento) (?:va|llega|pasa|entra|"
                    r"sale|fluye)", r"(?:el )?(?:navegador|cliente|front ?end|frontal) (?:envía|manda|llama|hace una "
                    r"petición|pide)", r"(?:escribe|escribimos|lee|leemos|guarda|guardamos)\w* (?:en|de) (?:la )?"
                    r"(?:base de datos|caché|cola)", r"(?:luego|después|y entonces) (?:el|la|esto) (?:\w+ )?(?:llama|"
                    r"escribe|lee|manda|envía|devuelve)", r"de (?:punta a punta|extremo a extremo)",
                    r"desde el navegador"),
    "sizing": phrases(r"(?:peticiones|consultas|escrituras|lecturas) (?:por|al|a la) (?:segundo|minuto|día)", r"qps",
                      r"rps", _NUMBER + r" ?(?:mil|millones?)? (?:de )?(?:usuarios|peticiones|filas|escrituras|"
                      r"lecturas|mensajes)", r"(?:giga|tera|mega)s?", r"\d+ ?(?:gb|tb|mb|gigas|teras|megas)",
                      r"(?:cálculo|cuenta|números) (?:rápid[oa]s?|a ojo|en una servilleta)", r"cuellos? de botella",
                      r"(?:pico|picos) de (?:carga|tráfico)"),
    "front_end": phrases(r"renderiz\w*", r"render\w*", r"(?:del )?lado (?:del )?(?:servidor|cliente)", r"ssr", r"spa",
                         r"hidrat\w*", r"bundles?", r"lazy[- ]?load\w*", r"carga (?:perezosa|diferida)",
                         r"lo que (?:ve|espera) el usuario", r"(?:estado|spinner|indicador) de carga",
                         r"(?:actualización|interfaz|ui) optimista", r"skeleton", r"primer (?:pintado|render|carga)",
                         r"primera carga", r"caché del navegador"),
}

_DATA = {
    "api": phrases(r"endpoints?", r"rest(?:ful)?", r"graphql", r"(?:un |el )?(?:get|post|put|patch|delete) (?:a|al|"
                   r"contra|sobre|/|barra)", r"códigos? de (?:estado|respuesta|error)", r"4\d\d",
                   r"respuestas? de error", r"cuerpo de la petición", r"(?:json )?payloads?", r"recursos?"),
    "paging": phrases(r"paginac\w*", r"pagin\w*", r"cursor(?:es)?", r"(?:token|tamaño) de página",
                      r"limit y offset", r"offset", r"version\w*", r"v1", r"compatib\w*(?: hacia atrás)?",
                      r"retrocompatib\w*"),
    "model": phrases(r"tablas?", r"esquemas?", r"columnas?", r"entidad(?:es)?", r"claves? (?:foráneas?|ajenas?|"
                     r"primarias?)", r"uno a muchos", r"muchos a muchos", r"normaliz\w*", r"desnormaliz\w*",
                     r"modelo de datos", r"(?:base de datos|base|almacén) (?:documental|de documentos)"),
    "indexes": phrases(r"índices?", r"indexad\w*", r"index\w*", r"patrones? de (?:consulta|acceso|lectura|escritura)",
                       r"(?:camino|ruta) de (?:lectura|escritura)"),
    "consistency": phrases(r"transacci(?:ón|ones)", r"transaccional", r"idempoten\w*", r"condici(?:ón|ones) de "
                           r"carrera", r"race conditions?", r"concurren\w*", r"bloqueo (?:optimista|pesimista|de fila)",
                           r"etags?", r"restricci(?:ón|ones) (?:de )?únic\w*", r"exactamente una vez", r"deduplic\w*",
                           r"reintentos", r"(?:doble|dos veces) (?:cobro|cargo|escritura|envío)", r"cobrar dos veces"),
}

_TESTING = {
    "levels": phrases(r"tests? unitarios?", r"pruebas? unitarias?", r"tests? de integración", r"pruebas? de "
                      r"integración", r"(?:de )?extremo a extremo", r"end[- ]to[- ]end", r"e2e", r"tests? de contrato",
                      r"pruebas? de (?:carga|contrato|rendimiento)", r"tests? de carga", r"snapshot tests?",
                      r"pirámide de (?:tests|pruebas|testing)", r"(?:pill|detect|caz)\w*(?: (?:las |los ))?"
                      r"(?:regresiones|bugs|errores|fallos)"),
    "observe": phrases(r"reproduc\w*", r"repro", r"logs?", r"métricas", r"trazas?", r"tracing", r"dashboards?",
                       r"profil\w*", r"perfil(?:ado|ar)", r"stack traces?", r"traza de (?:la )?pila", r"debugger",
                       r"depurador", r"flame ?graphs?"),
    "narrow": phrases(r"bisect\w*", r"acot\w*", r"aisl\w*", r"causa raíz", r"hipótesis", r"descart\w*",
                      r"búsqueda binaria", r"la (?:verdadera |auténtica )?causa (?:era|es|fue)"),
    "verify": phrases(r"verific\w*", r"comprob\w* (?:que |el arreglo|la solución|el fix)", r"confirm\w* (?:que "
                      r"(?:estaba )?arreglado|el arreglo)", r"(?:desplegamos|despleg\w*|subimos) (?:el )?(?:arreglo|"
                      r"fix|parche)", r"(?:hicimos |hacer )?roll ?back", r"marcha atrás", r"hot ?fix",
                      r"el (?:arreglo|fix) fue"),
    "prevent": phrases(r"tests? de regresión", r"pruebas? de regresión",
                       r"(?:añadí|añadimos|pusimos|puse)(?: (?:un |una ))?"
                       r"(?:test|prueba|alerta|comprobación|check)", r"alertas?", r"monitoriz\w*", r"monitore\w*",
                       r"post[- ]?mortems?", r"para que no (?:vuelva a pasar|se repita|pase (?:otra vez|más))",
                       r"preven\w*", r"evitar que (?:vuelva|se repita)"),
    "own_part": phrases(r"(?:yo )?(?:encontré|rastreé|escribí|arreglé|añadí|me di cuenta|depuré|reproduje|detecté|"
                        r"reescribí|perfilé|investigué)"),
}
_GUESSES = phrases(r"(?:meter|añadir|poner) (?:algo de |unos )?logs? y (?:ver|a ver)", r"(?:simplemente |solo )?"
                   r"reinici\w*", r"(?:es|era|fue) (?:culpa|problema) (?:suya|de ellos|del otro equipo|de qa|de "
                   r"sistemas|de operaciones)", r"no es (?:culpa mía|mi problema|mi código)", r"culp\w* (?:a|al|a "
                   r"los)", r"(?:seguramente|debió de ser|sería) (?:la|un|una) (?:red|caché|fallo puntual)",
                   r"en mi (?:máquina|ordenador|local) funciona")

_TRADEOFFS = {
    "options": phrases(r"opci(?:ón|ones)", r"alternativas?", r"alternativamente", r"en (?:vez|lugar) de",
                       r"frente a", r"versus", r"vs", r"(?:podríamos|podría) (?:también|o bien)",
                       r"otra (?:forma|manera|opción|aproximación)"),
    "costs": phrases(r"(?:un )?compromiso entre", r"trade[- ]?offs?", r"desventajas?", r"inconvenientes?",
                     r"(?:el )?coste (?:de|"
                     r"es)", r"a costa de", r"pros y contras", r"ventajas e inconvenientes", r"(?:más )?(?:simple|"
                     r"rápid[oa]|barat[oa]|fácil) pero", r"consistencia", r"disponibilidad", r"consistencia "
                     r"eventual", r"(?:construir|hacerlo) o comprar", r"latencia"),
    "choice": phrases(r"(?:yo )?(?:elegiría|escogería|optaría por|me quedaría con|empezaría con|usaría|iría con|"
                      r"iría a por)", r"para este (?:caso|producto|volumen|nivel)", r"dado que", r"teniendo en cuenta",
                      r"(?:así que|por eso) (?:elegiría|escogería|usaría|iría)", r"aquí (?:yo )?(?:usaría|elegiría|"
                      r"iría)", r"por eso (?:elegí|elijo|escogí)"),
    "adapt": phrases(r"si (?:el|ese|la) (?:requisito|carga|tráfico|volumen|escala) (?:cambia|crece|se duplica|sube)",
                     r"con ese cambio", r"eso cambia", r"(?:sigue|seguiría) (?:valiendo|funcionando|aguantando)",
                     r"(?:cambiaría|cambiaríamos|añadiría|añadiríamos|movería|separaría|partiría)", r"en ese caso",
                     r"(?:ahora|entonces) (?:yo |necesitaríamos|haría falta)"),
}
_ABSOLUTES = phrases(r"(?:siempre|nunca) (?:uso|usaría|hay que usar|uses|usar)", r"(?:la|el) mejor (?:forma|manera|"
                     r"opción|base de datos|framework|lenguaje)", r"(?:es|son) siempre (?:mejor|la respuesta|lo "
                     r"correcto)", r"no (?:tiene|hay) (?:ninguna )?(?:desventaja|pega|inconveniente)",
                     r"solo (?:hay )?una (?:forma|manera)")

_CLEAR = phrases(
    r"(?:te |se )?refieres? a", r"quieres decir", r"(?:para|solo para) aclarar", r"(?:puedo|podría) preguntar",
    r"déjame pensar", r"(?:primero|para empezar),? (?:voy a|déjame|yo|me gustaría)",
    r"en mi (?:anterior|último|actual) (?:trabajo|puesto|proyecto|empresa|equipo)", r"cuando (?:trabajaba|estaba) en",
    r"(?:construí|lideré|diseñé|migré|lancé|me encargué de|fui responsable de)", r"mi (?:parte|papel|rol) (?:fue|era)",
    r"no (?:lo )?sé", r"no estoy segur[oa]", r"no (?:he usado|he trabajado|lo he usado)",
)
_EVADES = phrases(r"(?:prefiero|preferiría) no", r"(?:da igual|no importa (?:mucho)?)", r"lo que funcione",
                  r"todo el mundo (?:sabe|lo hace)", r"como (?:ya )?(?:he dicho|dije)", r"obviamente",
                  r"depende\W*$")

MOVES = Moves(Role.USER, {"design": _DESIGN, "data": _DATA, "testing": _TESTING, "tradeoffs": _TRADEOFFS},
              {"guesses": _GUESSES, "absolutes": _ABSOLUTES, "clear": _CLEAR, "evades": _EVADES})
