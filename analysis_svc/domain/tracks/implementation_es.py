"""The implementation track's Spanish phrases: the same kinds of move and sorts of turn as ``implementation``'s English
ones, written from how software implementations are run with a customer in Spanish (Spain and Latin America, spoken,
with the English terms projects keep: "kickoff", "go-live", "UAT"), not translated. An accented letter also matches
without its accent, as speech-to-text sometimes drops it."""

from __future__ import annotations

from analysis_svc.domain.patterns import spanish_words as phrases
from analysis_svc.domain.tracks.rubric import Moves
from calls.turns import Role

LANGUAGE = "es"

_DAY = (r"(?:(?:el )?(?:lunes|martes|miércoles|jueves|viernes)|mañana|(?:el )?final de (?:la )?(?:semana|mes|día)|"
        r"fin de (?:semana|mes))")
_MONTH = (r"(?:enero|febrero|marzo|abril|mayo|junio|julio|agosto|septiembre|setiembre|octubre|noviembre|diciembre|"
          r"q[1-4]|(?:el )?(?:primer|segundo|tercer|cuarto) trimestre|(?:el )?(?:final|cierre) del? (?:trimestre|año))")

_STRUCTURE = {
    "purpose": phrases(r"(?:el )?(?:objetivo|propósito|fin) de (?:hoy|esta (?:llamada|reunión|sesión))",
                       r"hoy (?:vamos a|queremos|quiero|me gustaría)", r"(?:la )?agenda", r"(?:el )?orden del día",
                       r"(?:lo que|los puntos que) (?:vamos a|queremos) (?:ver|tratar|cubrir)"),
    "agenda_check": phrases(r"(?:os|te|le) parece bien", r"(?:os|te|le) encaja", r"(?:queréis|quieres|quiere) "
                            r"(?:añadir|sumar) algo", r"(?:falta|faltaría) algo", r"algo más que (?:queráis|quieras|"
                            r"quiera) (?:ver|tratar)", r"antes de empezar", r"(?:estáis|estás|está) de acuerdo con"),
    "recap": phrases(r"(?:para|a modo de) (?:resumir|recapitular|cerrar)", r"(?:en )?resumen", r"recapitul\w*",
                     r"(?:déjame|dejadme|permitidme) (?:resumir|repasar|recapitular)", r"entonces (?:hemos )?"
                     r"quedado en", r"(?:hemos )?(?:acordado|quedado) (?:que|en)", r"(?:las )?decisiones (?:son|"
                     r"fueron|que hemos tomado)", r"(?:puntos|tareas|acciones) (?:pendientes|de (?:hoy|esta reunión))",
                     r"action items?"),
    "owner_date": phrases(r"(?:enviará|enviaré|mandará|mandaré|compartirá|compartiré|tendrá|tendré|preparará|"
                          r"prepararé|confirmará|confirmaré|montará|montaré|agendará|agendaré|redactará|redactaré)"
                          r".{0,40}(?:para|antes del?) " + _DAY, r"(?:es (?:el |la )?responsable|se encarga|"
                          r"se encargará|me encargo|lo lleva)", r"(?:para|antes del?) " + _DAY),
    "next_meeting": phrases(r"(?:la )?(?:próxima|siguiente) (?:llamada|reunión|sesión|revisión|steering)",
                            r"(?:volvemos|volveremos) a (?:vernos|hablar|reunirnos)", r"(?:nos vemos|hablamos) (?:el|"
                            r"la semana)", r"a la misma hora"),
}

_SCOPE = {
    "in_out": phrases(r"(?:dentro|fuera) del alcance", r"(?:en|dentro de) alcance", r"no (?:entra|está) en (?:el )?"
                      r"(?:alcance|contrato)", r"(?:fase|etapa) (?:uno|dos|1|2)", r"(?:primera|segunda) fase",
                      r"exclu\w*", r"(?:el )?contrato (?:cubre|incluye)", r"(?:el )?pliego", r"sow",
                      r"propuesta (?:firmada|técnica)"),
    "success": phrases(r"criterios? de (?:éxito|aceptación|cierre)", r"cómo (?:sabremos|vamos a saber|mediremos|"
                       r"vamos a medir)", r"kpis?", r"(?:el )?éxito (?:es|sería|significa)",
                       r"definición de (?:hecho|terminado)", r"(?:dar|darlo) por (?:bueno|cerrado)"),
    "milestones": phrases(r"hitos?", r"go[- ]live", r"puesta en (?:marcha|producción)", r"arranque", r"uat",
                          r"pruebas (?:de aceptación|de usuario|con usuarios)", r"cut ?over", r"(?:el )?paso a "
                          r"producción", r"piloto", r"hyper ?care", r"soporte (?:post|tras el) arranque",
                          r"fase de (?:diseño|construcción|pruebas)"),
    "dates": phrases(r"(?:en|para|antes de|a finales de|a principios de|a mediados de) " + _MONTH,
                     r"(?:la )?semana \d+", r"\d+ semanas", r"(?:el )?\d+ de " + _MONTH, r"(?:para|antes del|el) "
                     r"(?:día )?\d+"),
    "dependencies": phrases(r"depende(?:mos|n)? de", r"dependencias?", r"bloquead[oa]s? (?:por|hasta)",
                            r"antes de (?:poder|que podamos)", r"(?:requisitos? )?previos?", r"prerrequisitos?",
                            r"camino crítico", r"ruta crítica",
                            r"(?:necesitamos|hace falta) .{0,30} (?:primero|antes)"),
    "change_control": phrases(r"(?:solicitud|petición|control|gestión|proceso) de cambios?", r"cambio de alcance",
                              r"(?:eso|esto) (?:sería|supondría) un cambio", r"impacto en (?:el |la )?(?:plazo|"
                              r"calendario|presupuesto|arranque|go[- ]live)", r"si (?:queréis|quieres|quiere|"
                              r"queremos) (?:añadir|meter|incluir)", r"(?:lo )?(?:aparcamos|dejamos aparcado)",
                              r"(?:backlog|bolsa) de (?:la )?(?:fase dos|segunda fase)"),
}
_AGREES_TO_ALL = phrases(r"(?:podemos|lo podemos) (?:hacer )?todo", r"sin problema,? (?:lo )?(?:añadimos|incluimos|"
                         r"metemos|hacemos)", r"claro,? (?:lo )?(?:añadimos|incluimos|metemos)", r"lo que "
                         r"(?:necesitéis|necesites|necesite)", r"sin (?:coste|cargo) (?:adicional|extra)",
                         r"(?:os|te|se) lo regalamos")

_GOVERNANCE = {
    "sponsor": phrases(r"sponsors?", r"patrocinador\w*", r"comité (?:de dirección|de seguimiento|directivo|"
                       r"de proyecto)", r"steering(?: committee)?", r"(?:responsable|propietario) ejecutivo"),
    "owners": phrases(r"(?:jefe|jefa|director|directora|responsable|líder|gestor|gestora) (?:de|del) proyecto",
                      r"project managers?", r"administrador\w*", r"admins?", r"expertos? (?:funcional\w*|en la "
                      r"materia|del negocio)", r"key users?", r"usuarios? clave", r"(?:punto|persona) de contacto",
                      r"interlocutor\w*", r"quién (?:se encarga|es (?:el |la )?responsable|lo lleva|va a llevar)",
                      r"(?:responsable|dueño) (?:por|de) (?:vuestra|nuestra|su|tu) parte", r"champions?"),
    "decides": phrases(r"quién (?:decide|aprueba|firma|da el visto bueno|tiene la última palabra)",
                       r"(?:el|la|los) que decide\w*", r"(?:toma|tomar) de decisi\w*", r"(?:da|dar|dé) el visto bueno",
                       r"aprob\w*", r"valid\w* (?:el|la|los|las)", r"raci", r"matriz de responsabilidades"),
    "escalation": phrases(r"escal\w*"),
    "cadence": phrases(r"semanal(?:es|mente)?", r"quincenal(?:es|mente)?", r"cada (?:semana|dos semanas|quince días|"
                       r"lunes|martes|miércoles|jueves|viernes|mes)", r"(?:informes?|reuniones?|llamadas?|reportes?) "
                       r"de (?:seguimiento|estado|avance)", r"(?:seguimiento|reporte|informe) (?:semanal|mensual)",
                       r"cadencia", r"periodicidad"),
}

_RISKS = {
    "capacity": phrases(r"capacidad", r"disponibilidad", r"(?:cuánto|qué) tiempo (?:podéis|puedes|puede|va a|van a) "
                        r"(?:dedicar|tener)", r"dedicación", r"horas (?:a|por|cada) (?:la )?semana", r"refuerzo",
                        r"quién (?:de vuestro equipo|por vuestra parte|de tu equipo) (?:puede|va a)"),
    "data": phrases(r"(?:migración|calidad|limpieza|mapeo|exportación|importación|fuentes?|origen|dueños?) de (?:los )?"
                    r"datos", r"migr\w*", r"(?:excels?|hojas? de cálculo)", r"datos (?:heredados|históricos|"
                    r"antiguos)", r"sistemas? (?:de origen|antiguos?|legacy)", r"legacy"),
    "integrations": phrases(r"integr\w*", r"apis?", r"sso", r"inicio de sesión único", r"erp", r"crm", r"sap",
                            r"interfaces?", r"conectores?"),
    "fixed_dates": phrases(r"(?:fecha|plazo) (?:límite|fij[oa]|inamovible|tope)", r"no (?:se )?(?:puede|podemos) "
                           r"(?:mover|retrasar)", r"cierre (?:del año|fiscal|contable)", r"(?:plazo|fecha) "
                           r"(?:legal|regulatori[oa])", r"congelación de (?:código|cambios)", r"temporada alta",
                           r"campaña de navidad"),
    "users": phrases(r"usuarios? finales?", r"formación", r"adopción", r"gestión del cambio", r"despliegue",
                     r"roll ?out", r"super ?usuarios?", r"key users?", r"onboarding", r"quién (?:lo )?va a usar"),
    "probing": phrases(r"qué (?:os|te|le) (?:preocupa|inquieta)", r"qué (?:podría|puede) (?:salir mal|torcerse|"
                       r"retrasar|frenar)", r"(?:algún|hay algún|veis algún|ves algún) (?:riesgo|problema|"
                       r"inconveniente)", r"qué pasó (?:la última vez|antes|con)", r"(?:cuéntame|cuéntenme|contadme|"
                       r"cuénteme) más (?:de|sobre)", r"qué más (?:debería|deberíamos) saber"),
    "mitigation": phrases(r"mitig\w*", r"(?:plan de )?contingencia", r"plan b", r"(?:plan|opción) alternativ[oa]",
                          r"(?:margen|colchón|holgura)", r"para reducir (?:el |ese )?riesgo", r"(?:registro|log) de "
                          r"riesgos", r"(?:vamos a|podemos) (?:meter|añadir|prever|planificar) (?:un|una)"),
}

_PLAIN = phrases(
    r"(?:vamos|estamos|va|está) (?:con )?(?:retraso|retrasad[oa]s?|tarde|en riesgo)", r"(?:vamos|estamos) "
    r"(?:por )?detrás", r"no (?:vamos a )?(?:llegar|llegamos) (?:a tiempo|a la fecha)", r"(?:hemos|vamos a) "
    r"(?:incumplido|retrasar)", r"no (?:puedo|podemos) (?:prometer|comprometer\w*|garantizar|asegurar)",
    r"(?:para ser|siendo|seré|voy a ser) (?:honest[oa]|sincer[oa]|claro|transparente|franc[oa])", r"sinceramente",
    r"la (?:verdadera )?razón (?:es|fue)", r"(?:ha sido|fue|es) (?:un )?(?:error|culpa) (?:nuestr[oa]|mí[oa])",
    r"(?:nos|me) equivocamos", r"(?:las )?opciones (?:son|que tenemos)", r"(?:podemos|podríamos) o bien",
    r"(?:tienes|tiene|tenéis) razón", r"es una (?:preocupación|pregunta|observación) (?:justa|legítima|razonable)",
)
_SPIN = phrases(
    r"no (?:te|se|os) preocupe\w*", r"ningún problema", r"todo (?:está|va) (?:bien|en plazo|bajo control|genial|"
    r"perfecto)", r"(?:100|cien) ?(?:%|por ?ciento|por cien)", r"garantiz\w*", r"(?:os|te|le) garantizo",
    r"(?:es|fue|ha sido) culpa (?:vuestra|tuya|suya|del cliente)",
    r"no (?:nos )?(?:habéis|has|ha) (?:entregado|enviado|mandado)",
    r"nunca (?:nos )?(?:habéis|has|ha) (?:entregado|enviado|"
    r"mandado)", r"(?:seguro|sin duda) que (?:llegamos|lo conseguimos|lo entregamos)", r"(?:confía|confíe|confiad) en "
    r"(?:mí|nosotros)", r"nada de qué preocupar\w*",
)

MOVES = Moves(Role.USER, {"structure": _STRUCTURE, "scope": _SCOPE, "governance": _GOVERNANCE, "risks": _RISKS},
              {"agrees_to_all": _AGREES_TO_ALL, "plain": _PLAIN, "spin": _SPIN})
