"""The HR track's Spanish phrases: the same kinds of move and sorts of turn as ``hr``'s English ones, written from how
hiring interviews are run in Spanish (Spain and Latin America, tú or usted), not translated. An accented letter also
matches without its accent, as speech-to-text sometimes drops it."""

from __future__ import annotations

from analysis_svc.domain.patterns import spanish_words as phrases

LANGUAGE = "es"

_YOU_ARE = r"(?:eres|es usted|estás|está usted|estás tú|está)"
_YOU_HAVE = r"(?:tienes|tiene usted|tiene|tenéis)"
_YOUR = r"(?:tu|su|vuestro|vuestra)"

_STRUCTURE = {
    "opening": phrases(r"gracias por (?:venir|tu tiempo|su tiempo|estar aquí|conectarte|conectarse|acompañarnos)",
                       r"me llamo", r"mi nombre es", r"soy (?:el|la) \w+",
                       r"(?:llevo|dirijo|lidero|coordino) (?:el|la) "
                       r"(?:equipo|área|departamento)", r"encantad[oa] de (?:conocerte|conocerle|conocerla)",
                       r"bienvenid[oa]s?", r"un placer"),
    "role": phrases(r"el puesto", r"este (?:puesto|rol|trabajo|cargo)", r"la (?:posición|vacante)", r"el rol",
                    r"el equipo (?:es|se encarga|hace|trabaja)", r"(?:estarías|estaría|trabajarías|trabajaría|"
                    r"reportarías|reportaría|serías|sería) (?:responsable|trabajando|reportando|a cargo)"),
    "plan": phrases(r"(?:la entrevista|la conversación|la reunión|la llamada) (?:va a|va a durar|dura)",
                    r"cómo (?:va a ir|vamos a hacer|funciona) (?:la entrevista|esto|la conversación)",
                    r"(?:empezaremos|empezamos|vamos a empezar|comenzaremos) (?:con|por|hablando)",
                    r"(?:\w+|\d+) minutos",
                    r"(?:unas|algunas) preguntas sobre", r"(?:luego|después) (?:te |le )?(?:haré|pasaremos|tendrás|"
                    r"tendrá|hablaremos|veremos)", r"al final", r"la agenda"),
    "their_questions": phrases(_YOU_HAVE + r" (?:alguna )?(?:pregunta|duda)",
    r"(?:te|le) queda (?:alguna )?(?:pregunta|"
                               r"duda)", r"preguntas? para (?:mí|nosotros)", r"algo (?:que )?(?:quieras|quiera) "
                               r"(?:preguntar|saber)", r"qué (?:te|le) gustaría saber"),
    "next_steps": phrases(r"(?:los )?(?:próximos|siguientes) pasos", r"(?:el )?(?:próximo|siguiente) paso",
                          r"(?:te|le) (?:diremos|daremos|contestaremos|escribiremos|llamaremos|avisaremos|daré|diré)"
                          r"(?: algo| respuesta| una respuesta)?", r"(?:antes del|el) (?:lunes|martes|miércoles|jueves|"
                          r"viernes)", r"en (?:un|una|dos|tres|\d+|unos|unas) (?:días?|semanas?)",
                          r"segunda (?:ronda|entrevista|fase)", r"(?:ronda|entrevista) final",
                          r"el proceso (?:es|sigue|a partir de aquí|de aquí en adelante)"),
}

_EVIDENCE = {
    "example": phrases(r"(?:cuéntame|cuénteme|háblame|hábleme) (?:de |sobre )?(?:una|alguna) (?:vez|ocasión|situación)",
                       r"(?:dame|deme|ponme|póngame) un ejemplo", r"un ejemplo (?:concreto|específico|real)",
                       r"(?:describe|describa|descríbeme|descríbame) (?:una|un) (?:situación|vez|proyecto)",
                       r"paso a paso", r"una (?:vez|ocasión) en (?:la )?que",
                       r"(?:alguna|una) situación en (?:la )?que"),
    "own_part": phrases(r"qué (?:hiciste|hizo|dijiste|dijo|decidiste|decidió|cambiaste|cambió|construiste|construyó) "
                        r"(?:tú|usted|exactamente|concretamente)", r"(?:tu|su) (?:papel|parte|rol|aportación) en",
                        r"cuál fue (?:tu|su) (?:papel|parte|rol|aportación)", r"(?:tú|usted) personalmente",
                        r"qué exactamente", r"exactamente qué"),
    "outcome": phrases(r"cuál fue el (?:resultado|impacto)", r"qué (?:resultados?|impacto) (?:tuvo|tuviste|hubo|"
                       r"conseguiste|consiguió)", r"qué pasó (?:después|luego|al final)", r"cómo (?:salió|acabó|"
                       r"terminó)", r"cómo (?:lo )?(?:mediste|midió|supiste|supo)", r"resultados?"),
    "reflection": phrases(r"qué (?:harías|haría) (?:de forma )?(?:diferente|distinto)", r"qué (?:cambiarías|cambiaría)",
                          r"qué (?:aprendiste|aprendió)", r"(?:mirando|visto|viéndolo) (?:hacia )?atrás",
                          r"(?:a toro pasado|en retrospectiva)", r"qué salió mal"),
    "check": phrases(r"cuánto (?:tiempo|dinero|duró)", r"cuánta gente",
                     r"cuánt[oa]s (?:personas|clientes|usuarios|proyectos|meses)", r"de qué tamaño",
                     r"qué (?:cifras|números|tamaño)", r"cómo (?:llegaste|llegó) a",
                     r"(?:puedes|puede) (?:contarme|decirme|explicarme) más", r"por qué (?:lo hiciste|lo hizo|"
                     r"decidiste|decidió|elegiste|eligió)", r"en qué sentido"),
}

KINDS = {"structure": _STRUCTURE, "evidence": _EVIDENCE}

COURTESY = phrases(r"gracias", r"(?:tómate|tómese) (?:tu|su|el) tiempo", r"sin prisa", r"encantad[oa]",
                   r"(?:un )?placer (?:conocerte|conocerle|conocerla)", r"(?:es|eso es|qué) (?:muy )?(?:buen[oa]|"
                   r"interesante|útil)", r"(?:te|le|se lo) agradezco", r"(?:perdona|perdone|disculpa|disculpe) (?:la "
                   r"espera|el retraso)")
DISRESPECT = phrases(
    r"(?:te|le) (?:paro|corto|interrumpo) (?:ahí|aquí)", r"(?:vamos a ir|vayamos) rápido", r"(?:no tengo|no tenemos) "
    r"(?:mucho tiempo|todo el día)", r"dónde (?:estábamos|íbamos)", r"se me (?:olvidó|ha olvidado)", r"lo que sea",
    r"(?:una )?pérdida de tiempo", r"no (?:te|le) estaba escuchando", r"(?:date|dese|daos) prisa",
    r"(?:suenas|pareces|parece) (?:nervios[oa]|tont[oa])", r"(?:cálmate|cálmese|tranquilízate|tranquilícese)",
    r"(?:voy|llego|vamos) tarde", r"tengo que (?:coger|contestar|atender) (?:esto|esta llamada|el teléfono)",
    r"hotel", r"prueba de mecanografía", r"fotos?",
)
PREJUDGES = phrases(
    r"no (?:vas|va) a (?:durar|quedarte|quedarse|encajar)", r"sobrecualificad[oa]", r"(?:demasiad[oa]|muy) (?:mayor|"
    r"joven|júnior|junior|sénior|senior|experimentad[oa])", r"(?:gente|personas) como (?:tú|usted)",
    r"a (?:tu|su) edad",
    r"(?:el puesto|el trabajo) es (?:tuyo|suyo)", r"(?:estás|está) contratad[oa]", r"seguro que (?:te|le) (?:cogen|"
    r"contratan|eligen)", r"(?:serías|sería|eres|es) perfect[oa]", r"encajas? perfectamente",
    r"ya (?:sé|sabemos|veo) que (?:no|tú|usted)", r"(?:el otro|la otra|los otros|las otras) candidat[oa]s? (?:es|son|"
    r"era|eran) (?:mejor|mejores)", r"no (?:es|eres) lo que (?:buscamos|estamos buscando)",
    r"sinceramente,? (?:tú|usted)",
)
CRITERIA = phrases(r"criterios?", r"rúbrica", r"(?:plantilla|hoja|ficha) de evaluación", r"las mismas preguntas",
                   r"tod[oa]s l[oa]s candidat[oa]s", r"los requisitos del puesto", r"(?:te|le|os) (?:evaluamos|"
                   r"evaluaremos|valoramos|valoraremos|compararemos) (?:según|con|frente a)")

# What a hiring manager may not ask, asked of the person: each phrasing names the protected characteristic (age,
# family and pregnancy, marital status, religion, origin, citizenship, health and disability, sexual orientation,
# arrests, union membership, height and weight, finances, salary history), as the guardrails' English list does.
UNLAWFUL = phrases(
    r"cuántos años " + _YOU_HAVE, r"qué edad " + _YOU_HAVE, r"(?:en )?qué año (?:naciste|nació)",
    r"fecha de nacimiento", r"(?:piensas|piensa) (?:jubilarte|jubilarse)", r"cuándo (?:te|se) (?:jubilas|jubila)",
    _YOU_HAVE + r" (?:hijos|niños|familia|pareja|novi[oa]|marido|mujer|espos[oa])",
    _YOU_ARE + r" (?:embarazada|casad[oa]|solter[oa]|divorciad[oa]|viud[oa]|enferm[oa]|de baja|afiliad[oa]|"
    r"sindicad[oa]|católic[oa]|creyente|practicante|musulmana?|judí[oa]|cristian[oa]|evangélic[oa]|ate[oa]|gay|"
    r"lesbiana|homosexual|bisexual|heterosexual|trans)",
    r"(?:piensas|piensa|pensáis|planeas|planea|quieres|quiere|vas a|va a) (?:tener|formar) (?:hijos|familia|un bebé)",
    r"quién (?:cuida|cuidará|se queda con) (?:de )?(?:tus|sus|los) (?:hijos|niños)", r"estado civil",
    r"con quién (?:vives|vive)", _YOUR + r" (?:marido|mujer|espos[oa]|pareja|novi[oa]|religión|nacionalidad|origen|"
    r"acento|raza|etnia|salud|enfermedad|diagnóstico|orientación sexual|peso|altura|estatura|sueldo actual|"
    r"salario actual|sueldo anterior|salario anterior)",
    r"qué (?:religión|nacionalidad)", r"(?:vas|va) a (?:misa|la iglesia|la mezquita|la sinagoga)",
    r"de dónde (?:eres|es usted|sois)", r"dónde (?:naciste|nació)", r"(?:tus|sus) padres (?:son|eran) de",
    _YOU_HAVE + r" (?:la )?(?:nacionalidad|ciudadanía|doble nacionalidad)", _YOU_HAVE + r" (?:alguna )?"
    r"(?:discapacidad|enfermedad|minusvalía|deuda|deudas|hipoteca)", r"(?:tomas|toma) (?:alguna )?medicación",
    r"(?:has|ha) estado (?:de baja|detenid[oa]|en la cárcel|pres[oa])", r"problemas de salud",
    r"(?:te|le) (?:han|ha) (?:detenido|arrestado)", r"(?:a un|al|algún) sindicato",
    r"cuánto (?:mides|mide|pesas|pesa)", r"(?:vives|vive) (?:de alquiler|en casa propia)",
    r"cuánto (?:ganabas|ganaba|cobrabas|cobraba|ganas|gana usted|cobras|cobra usted)",
)
