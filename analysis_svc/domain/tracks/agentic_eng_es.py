"""The agentic engineering track's Spanish phrases: the same kinds of move and sorts of turn as ``agentic_eng``'s
English ones, written from how Spanish-speaking engineers present and defend an agent in a review (Spain and Latin
America, spoken, with the English terms of the trade they keep: "evals", "prompt", "guardrails"), not translated. An
accented letter also matches without its accent, as speech-to-text sometimes drops it."""

from __future__ import annotations

from analysis_svc.domain.patterns import spanish_words as phrases
from analysis_svc.domain.tracks.rubric import Moves
from calls.turns import Role

LANGUAGE = "es"

_NUMBER = (r"(?:\d[\d,.]*|un|una|uno|dos|tres|cuatro|cinco|seis|siete|ocho|nueve|diez|veinte|cincuenta|cien|"
           r"mil)")

_EVALUATION = {
    "task_set": phrases(r"(?:conjunto|set|batería|juego) de (?:evaluación|pruebas|test|casos|evals)",
                        r"casos de (?:prueba|test)", r"(?:dataset|conjunto de datos) (?:de referencia|dorado|"
                        r"etiquetado)", r"golden (?:set|dataset)", r"(?:datos|ejemplos) etiquetados",
                        r"(?:tickets|consultas|conversaciones|transcripciones|peticiones|tareas|logs) (?:reales|de "
                        r"producción|históric[oa]s)", r"(?:sacad|extraíd|tomad|muestread)[oa]s de (?:producción|casos "
                        r"reales|nuestros)"),
    "success_measure": phrases(r"tasa de (?:éxito|acierto|resolución|aciertos)", r"(?:porcentaje|ratio) de "
                               r"(?:éxito|acierto|resolución)", r"tareas? (?:completad|resuelt)\w*",
                               r"(?:precisión|exhaustividad|recall|exactitud) (?:en|de|sobre)",
                               r"(?:cuenta|cuentan|contamos) como (?:éxito|correct[oa]|resuelt[oa])",
                               r"(?:puntuad|evaluad|calificad)[oa]s? (?:con|según|contra)", r"rúbrica"),
    "regression": phrases(r"regresi(?:ón|ones)", r"antes de (?:cada|cualquier) (?:cambio|despliegue|release|versión|"
                          r"cambio de prompt|cambio de modelo)", r"en (?:la )?(?:ci|integración continua|cada pull "
                          r"request|cada commit)", r"evals? offline", r"evaluaciones? offline",
                          r"(?:volvemos|volver) a "
                          r"(?:pasar|correr|lanzar) (?:las )?(?:evals?|pruebas|tests?|batería)",
                          r"(?:cada|cualquier) cambio de (?:prompt|modelo)"),
    "judge": phrases(r"revisión humana", r"(?:revisores|evaluadores|anotadores|etiquetadores)(?: humanos)?",
                     r"(?:llm|modelo) como juez", r"(?:modelo|llm) (?:juez|evaluador)", r"(?:llm|model)[- ]as[- ]a[- ]"
                     r"judge", r"revis\w* (?:a mano|manualmente|una muestra)", r"muestreo manual",
                     r"(?:coincide|concuerda|acuerdo) con (?:los )?(?:humanos|revisores|expertos|personas)",
                     r"calibr\w*"),
    "figures": phrases(_NUMBER + r" ?(?:%|por ?ciento)(?: de (?:las )?(?:tareas|casos|tickets|consultas|ejecuciones))?",
                       r"(?:de|pasamos de|pasó de) " + _NUMBER + r" (?:a|hasta) " + _NUMBER,
                       _NUMBER + r" de cada " + _NUMBER),
    "weak_spots": phrases(r"(?:todavía |aún )?(?:falla|fallaba|se equivoca|sufre|se atasca) (?:en|con|cuando)",
                          r"(?:modos|casos) de fallo", r"donde (?:todavía |aún )?(?:falla|flojea|se queda corto)",
                          r"casos (?:límite|extremos|raros)", r"edge cases?",
                          r"(?:es|está) (?:flojo|débil|peor) (?:en|con)",
                          r"no (?:sabe |consigue )?(?:manejar|resolver) (?:todavía|aún|bien)"),
}

_GUARDRAILS = {
    "tool_scope": phrases(r"(?:solo|solamente|únicamente) (?:puede )?(?:llamar|usar|tiene|accede|acceder) (?:a )?"
                          r"(?:\w+ )?(?:herramientas?|acceso)", r"lista (?:blanca|de permitidos)", r"allow ?list\w*",
                          r"(?:de )?solo lectura", r"mínimo privilegio", r"privilegios mínimos", r"acotad[oa]s?",
                          r"(?:conjunto|set) (?:limitado|reducido|mínimo) de (?:herramientas|permisos)", r"permisos?",
                          r"no (?:puede|podía|pueda) (?:llamar|borrar|escribir|enviar|tocar|acceder)"),
    "credentials": phrases(r"(?:credenciales|tokens?|claves) (?:acotad[oa]s|de corta duración|propi[oa]s|por usuario|"
                           r"temporales)", r"cuentas? de servicio", r"scopes? de oauth", r"en nombre del usuario",
                           r"(?:los )?permisos del (?:propio )?usuario", r"gestor de secretos", r"vault"),
    "validation": phrases(r"valid\w*", r"esquemas?", r"schemas?", r"salidas? estructuradas?", r"structured outputs?",
                          r"sanitiz\w*", r"saneamiento", r"(?:filtros?|comprobaciones|controles) de (?:entrada|salida)",
                          r"tipad\w*", r"parse\w* (?:la salida|los argumentos)"),
    "injection": phrases(r"(?:inyección|inyecciones) de (?:prompts?|instrucciones)", r"prompt injections?",
                         r"instrucciones (?:inyectadas|ocultas|maliciosas)", r"(?:entrada|contenido|texto|documentos?|"
                         r"datos) (?:no fiables?|no confiables?|de terceros|externos)", r"jailbreaks?",
                         r"inyección indirecta"),
    "human_gate": phrases(r"human[- ]in[- ]the[- ]loop", r"(?:una )?persona en el (?:bucle|circuito)",
                          r"(?:un humano|una persona|alguien) (?:lo )?(?:aprueba|revisa|confirma|valida|da el visto "
                          r"bueno)", r"(?:pide|necesita|requiere) (?:una )?(?:confirmación|aprobación)",
                          r"(?:aprobación|confirmación) (?:previa|antes)", r"irreversibles?", r"dry[- ]run",
                          r"(?:en )?(?:modo )?simulación", r"(?:por encima|más allá) del? (?:un |cierto )?(?:umbral|"
                          r"límite|importe)"),
    "hard_rule": phrases(r"reglas? (?:dura|duras|fijas?|deterministas?)", r"límites? (?:duros?|de gasto|fijos?)",
                         r"(?:topes?|límites?) de (?:gasto|uso|peticiones)", r"(?:comprobaciones|controles|código) "
                         r"determinista\w*", r"motor de políticas", r"sandbox\w*", r"entornos? aislados?",
                         r"(?:fuera|no depende) del modelo", r"en (?:el )?código,? no en el prompt"),
}
_UNGUARDED = phrases(r"acceso (?:total|completo|de administrador|root|sin restricciones)", r"permisos (?:totales|"
                     r"completos|de administrador)", r"el modelo (?:ya )?(?:decide|sabe|lo resuelve|se encarga|lo "
                     r"gestiona)", r"(?:acceso|conectado) a todo", r"(?:confiamos|confío) en el modelo",
                     r"no (?:hace falta|necesita|necesitamos) (?:aprobación|aprobar|comprobar|revisar)")

_FAILURE = {
    "modes": phrases(r"herramienta (?:equivocada|incorrecta)", r"bucles?", r"(?:se queda|entra) en bucle",
                     r"alucin\w*", r"(?:se )?invent\w*", r"time ?outs?", r"tiempos? de espera", r"timeouts?",
                     r"(?:errores?|fallos?) (?:de|en) (?:la )?(?:herramienta|api|llamada)", r"(?:la )?(?:api|"
                     r"herramienta) (?:falla|se cae|cae|no responde)", r"rate[- ]limit\w*", r"límites? de (?:tasa|"
                     r"peticiones)", r"mal formad[oa]s?", r"malformad[oa]s?", r"se (?:atasca|queda atascad[oa]|"
                     r"bloquea)"),
    "retries": phrases(r"reintent\w*", r"back ?off", r"espera exponencial", r"(?:número )?(?:máximo|limitado) de "
                       r"(?:intentos|reintentos)"),
    "idempotent": phrases(r"idempoten\w*", r"deduplic\w*", r"(?:se puede|es seguro) (?:repetir|reintentar)",
                          r"roll ?back", r"(?:marcha|vuelta) atrás", r"revert\w*", r"deshacer", r"compensa(?:ción|"
                          r"ciones|torias?)", r"exactamente una vez", r"como mucho una vez"),
    "fallback": phrases(r"fall ?back", r"(?:plan|ruta|respuesta) (?:de respaldo|alternativ[oa])", r"degrad\w*",
                        r"(?:deriv|pas|escal|traspas)\w* (?:a|al) (?:un |una )?(?:humano|persona|agente|soporte|"
                        r"alguien|equipo)", r"(?:un humano|una persona) (?:toma el control|se hace cargo)",
                        r"(?:se lo )?(?:dice|avisa|comunica) al usuario"),
    "observability": phrases(r"traza\w*", r"trazabilidad", r"tracing", r"spans?", r"observabilidad",
                             r"(?:cuadros? de mando|dashboards?)", r"alertas?", r"(?:logueamos|registramos|guardamos) "
                             r"(?:cada|todos los) (?:pasos?|llamadas?|ejecuciones?)", r"monitoriz\w*", r"monitore\w*",
                             r"reproduc\w* (?:la|las) (?:ejecuci\w*|conversaci\w*)", r"langsmith", r"opentelemetry"),
    "review": phrases(r"(?:revisamos|revisar|miramos|mirar|analizamos|analizar) (?:las |los )?(?:ejecuciones|"
                      r"conversaciones|trazas|casos) (?:fallidas?|fallidos|malas?|malos|que fallan)",
                      r"post[- ]?mortems?", r"análisis de errores", r"(?:añadimos|metemos|añadir|meter|"
                      r"incorporamos) (?:esos |los )?(?:fallos|casos|errores)? ?(?:al|en el|a la) (?:conjunto|set|"
                      r"batería|eval)"),
}

_COST = {
    "figures": phrases(r"(?:céntimos?|centavos?|dólares|euros|\$ ?" + _NUMBER + r"|" + _NUMBER + r" ?€)(?: (?:por|"
                       r"cada) (?:tarea|ejecución|llamada|petición|conversación|ticket))?",
                       _NUMBER + r" (?:mil )?tokens", r"por (?:tarea|ejecución|petición|conversación)",
                       _NUMBER + r" (?:segundos|milisegundos|ms)", r"p(?:50|95|99)"),
    "model_choice": phrases(r"modelos? (?:más )?(?:pequeños?|baratos?|rápidos?|ligeros?)", r"(?:un|el) modelo mini",
                            r"(?:enrut|rout)\w* (?:entre|a) (?:\w+ )?modelos?", r"destil\w*", r"fine[- ]?tun\w*",
                            r"ajuste fino", r"(?:elección|selección) del modelo", r"el modelo que elegimos"),
    "caching": phrases(r"cache\w*", r"caché", r"memoiz\w*", r"reutiliz\w* (?:los |las )?(?:resultados|respuestas)"),
    "limits": phrases(r"(?:límites?|topes?|presupuestos?) de (?:pasos|iteraciones|tokens|turnos|gasto)",
                      r"(?:máximo|número máximo) de (?:pasos|iteraciones|turnos|tokens)", r"(?:lo )?limitamos a",
                      r"(?:un )?tope (?:de|en|por)", r"time ?outs? (?:de|por)"),
    "async": phrases(r"streaming", r"en streaming", r"asíncron\w*", r"async\w*", r"en segundo plano", r"colas?",
                     r"por lotes", r"batch\w*", r"en paralelo", r"paraleliz\w*"),
}

# Concrete, owned answers: from real work, trade-offs and unknowns said, a wrong assumption corrected, scope asked.
_CONCRETE = phrases(
    r"(?:un )?compromiso entre", r"trade[- ]?offs?", r"(?:la )?(?:desventaja|pega|contrapartida|letra pequeña)",
    r"el precio "
    r"(?:de eso|que pagamos)", r"por otro lado", r"(?:renunciamos|sacrificamos)", r"no (?:lo )?(?:sabemos|sé) "
    r"(?:todavía|aún)", r"no lo (?:hemos|he) medido", r"(?:todavía|aún) no (?:lo )?(?:hemos|he) medido",
    r"no estoy segur[oa] (?:todavía|aún)", r"en realidad,? no", r"no exactamente", r"(?:no del todo|matizaría)",
    r"en nuestro caso", r"cuando lo (?:construimos|lanzamos|pusimos en producción|desplegamos)", r"en producción,? "
    r"(?:vimos|hemos visto|nos encontramos)", r"(?:aprendimos|descubrimos|medimos|vimos) que",
    r"(?:te|se) refieres? a", r"quieres decir", r"(?:puedo|déjame|permíteme) (?:preguntar|aclarar|comprobar)",
    r"para aclarar", r"cuál (?:es|sería) el alcance", r"qué (?:restricciones|usuarios)",
)
_HYPE = phrases(
    r"(?:totalmente|completamente|100 ?%) autónomo", r"nunca (?:alucina|falla|se equivoca)", r"(?:cien|100) ?(?:%|por "
    r"?ciento) (?:fiable|precis[oa]|segur[oa]|exact[oa])", r"funciona sin más", r"simplemente funciona",
    r"(?:es|será) lo bastante list[oa]", r"(?:se va a abaratar|va a mejorar|mejorará) (?:solo|igualmente|de todas "
    r"formas)", r"revolucionari[oa]", r"mágic[oa]", r"magia", r"agi", r"no (?:puede|va a) (?:salir mal|fallar)",
    r"sin comentarios", r"prefiero no (?:decir|entrar)", r"(?:confía|confíe) en mí",
)

MOVES = Moves(Role.USER, {"evaluation": _EVALUATION, "guardrails": _GUARDRAILS, "failure": _FAILURE, "cost": _COST},
              {"unguarded": _UNGUARDED, "concrete": _CONCRETE, "hype": _HYPE})
