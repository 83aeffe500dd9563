"""The security track's Spanish phrases: the same kinds of move and sorts of turn as ``security``'s English ones,
written from how incidents are explained and owned in Spanish (Spain and Latin America, spoken, formal or not), not
translated. An accented letter also matches without its accent, as speech-to-text sometimes drops it."""

from __future__ import annotations

from analysis_svc.domain.patterns import spanish_words as phrases

LANGUAGE = "es"

_THREAT = {
    "attacker": phrases(r"atacantes?", r"adversari[oa]s?", r"actor(?:es)? (?:de (?:la )?amenaza|malicios[oa]s?)",
                        r"ciberdelincuentes?", r"delincuentes?", r"criminales?", r"hackers?", r"piratas? informátic\w*",
                        r"amenaza interna", r"insiders?", r"(?:empleado|trabajador)s? (?:descontent|malicios)\w*",
                        r"(?:grupo|banda)s? de ransomware", r"(?:patrocinad|respaldad|financiad)[oa]s? por (?:un )?"
                        r"estado", r"estados?[- ]nación"),
    "entry": phrases(r"phishing", r"suplantación", r"correos? (?:falsos?|maliciosos?|fraudulentos?)",
                     r"puntos? de entrada", r"acceso inicial", r"credenciales", r"contraseñas?", r"robad[oa]s?",
                     r"vulnerab\w*", r"explot\w*", r"exploits?", r"sin parche\w*", r"mal configurad\w*",
                     r"configuración (?:errónea|incorrecta)", r"expuest[oa]s?", r"inyección", r"cadena de suministro",
                     r"(?:sistema|servidor|pipeline) de (?:compilación|build|integración)", r"terceros",
                     r"proveedor(?:es)? extern[oa]s?", r"vpn", r"(?:claves|llaves) (?:de (?:la )?api|privadas?|de "
                     r"acceso|de firma)", r"tokens?", r"superficie de ataque"),
    "movement": phrases(r"lateral(?:mente)?", r"pivot\w*", r"escala\w* (?:de )?privilegios", r"elev\w* (?:de )?"
                        r"privilegios", r"persistencia", r"puertas? traseras?", r"backdoors?",
                        r"se (?:movieron|movió|mueven|mueve|desplazaron) (?:por|dentro|a través)", r"tiempo de "
                        r"permanencia", r"exfiltr\w*", r"(?:sacaron|robaron|extrajeron|se llevaron) (?:los )?datos",
                        r"comando y control"),
    "assets": phrases(r"joyas de la corona", r"datos (?:de (?:los |nuestros )?clientes|personales|de pago|de "
                      r"tarjetas?|sensibles|bancarios)", r"bases? de datos", r"código fuente", r"secretos?",
                      r"información (?:sensible|confidencial|personal)", r"registros", r"historiales?",
                      r"lo que (?:buscaban|querían|iban buscando)", r"lo que (?:un atacante|ellos) (?:querría|buscaría|"
                      r"se llevaría)", r"activos"),
    "risk": phrases(r"probabilidad", r"probable", r"impacto", r"radio de (?:impacto|explosión)", r"gravedad",
                    r"severidad", r"criticidad", r"model(?:o|ado) de amenazas", r"riesgos?", r"arriesgad\w*",
                    r"(?:el )?peor (?:caso|escenario)"),
    "cause": phrases(r"causa raíz", r"(?:la )?causa (?:real|de fondo|principal)", r"porque (?:el|la|los|las|"
                     r"nuestr[oa]s?|no|ellos|nosotros|teníamos|tenían|había|nadie)",
                     r"cómo (?:entraron|consiguieron entrar|lograron entrar|accedieron)", r"un (?:solo|único) factor",
                     r"sin (?:mfa|doble factor|segundo factor|2fa|autenticación (?:multifactor|de dos factores))",
                     r"síntomas?"),
}

_RESPONSE = {
    "scope": phrases(r"alcance", r"acot\w*", r"triaje", r"confirm\w*", r"evalu\w*", r"investig\w*",
                     r"hasta dónde (?:llegaron|llegó)", r"qué (?:sistemas|equipos|datos) (?:se vieron )?afectad\w*"),
    "contain": phrases(r"contención", r"conten(?:er|emos|erlo|erla|iendo)", r"contuv\w*", r"aisl\w*",
                       r"cort\w* (?:el |los )?accesos?", r"desconect\w*", r"cuarentena", r"(?:fuera de línea|offline)",
                       r"apag\w*", r"bloque(?:a|o|é)\w*"),
    "evidence": phrases(r"forense\w*", r"evidencias?", r"preserv\w*", r"conserv\w* (?:los |las )?(?:logs|registros|"
                        r"evidencias|pruebas)", r"logs?", r"registros? (?:de|del) (?:acceso|sistema|eventos|auditoría)",
                        r"trazas", r"instantáneas?", r"snapshots?", r"imágenes? (?:de|del) (?:los )?(?:discos?|"
                        r"servidor\w*|equipos?)", r"línea de tiempo", r"cronología", r"cadena de custodia"),
    "eradicate": phrases(r"erradic\w*", r"elimin\w*", r"reconstru\w*", r"reinstal\w*", r"borr\w*", r"formate\w*",
                         r"reset\w*", r"rot(?:ar|amos|aron|ación|ando|ado|adas?|é)", r"revoc\w*",
                         r"(?:echar|echamos|expulsar|expulsamos|sacar|sacamos)(?:los|les)? (?:\w+ )?(?:de la red|"
                         r"fuera|del sistema)", r"(?:sigan|siguen|seguían|están|estén) (?:todavía |aún )?dentro"),
    "recover": phrases(r"recuper\w*", r"restaur\w*", r"volv\w* a (?:poner en marcha|levantar|estar operativ\w*|"
                       r"funcionar|estar en línea)", r"restablec\w* (?:el |los )?servicios?", r"copias? de seguridad",
                       r"backups?", r"respaldos?"),
    "notify": phrases(r"notific\w*", r"comunic\w* (?:a|al) (?:los |las )?(?:clientes|regulador\w*|consejo|afectad\w*|"
                      r"dirección|junta)", r"divulg\w*", r"regulador(?:es)?", r"aepd", r"agencia (?:española )?de "
                      r"protección de datos", r"autoridad(?:es)? (?:de control|competentes?)", r"(?:la )?policía",
                      r"fuerzas de seguridad", r"fiscalía", r"incibe", r"(?:informamos|informar|informé|informaremos|"
                      r"avisamos|avisar|avisé|avisaremos)", r"públic(?:o|amente)", r"(?:en|dentro de) (?:las )?(?:72|"
                      r"setenta y dos) horas", r"(?:comité|gabinete|sala) de crisis", r"respuesta (?:a|ante) "
                      r"incidentes", r"escal\w*"),
}

_FIX = {
    "control": phrases(r"mfa", r"doble factor", r"segundo factor", r"2fa", r"autenticación (?:multifactor|de dos "
                       r"factores|en dos pasos|fuerte)", r"mínimo privilegio", r"privilegios mínimos", r"segment\w*",
                       r"parche\w*", r"cifr\w*", r"encript\w*", r"bastion\w*", r"endurec\w*", r"listas? (?:blancas?|de "
                       r"permitidos)", r"confianza cero", r"zero trust", r"rot\w*(?: (?:las |todas las |nuestras ))?"
                       r"(?:claves|credenciales|secretos|contraseñas)", r"gestor(?:es)? de (?:secretos|contraseñas)",
                       r"vault", r"(?:compilaciones|builds) (?:firmad\w*|reproducibles)"),
    "process": phrases(r"procesos?", r"procedimientos?", r"polític\w*", r"responsables?", r"dueños?",
                       r"rendición de cuentas", r"inventario", r"gestión de (?:parches|cambios|vulnerabilidades)",
                       r"revis\w*", r"formación", r"concienciación", r"capacitación", r"playbooks?", r"runbooks?",
                       r"manuales? de (?:respuesta|actuación)", r"ejercicios? de mesa"),
    "priority": phrases(r"(?:lo )?primero", r"prioridad\w*", r"prioriz\w*", r"lo más (?:urgente|importante|crítico)",
                        r"(?:el )?mayor riesgo", r"antes (?:que|de) nada", r"a (?:corto|medio|largo) plazo",
                        r"victorias rápidas", r"quick wins?"),
    "verify": phrases(r"verific\w*", r"comprob\w*", r"pruebas", r"prob(?:ar|amos|ado|ando|arlo|arla)", r"test\w*",
                      r"pentest\w*", r"red team\w*", r"equipo rojo", r"auditor\w*", r"monitoriz\w*", r"monitore\w*",
                      r"alertas?", r"detec\w*", r"medi(?:r|mos|remos|ción)", r"métricas?", r"escane\w*",
                      r"simulacros?"),
    "commit": phrases(r"vamos a", r"\w{2,}(?:aremos|eremos|iremos)", r"(?:haremos|pondremos|tendremos)",
                      r"desde entonces", r"a partir de ahora", r"de ahora en adelante", r"(?:yo )?(?:haría|propondría|"
                      r"recomendaría)", r"(?:el|nuestro|mi) plan (?:es|será|pasa por)", r"(?:tenemos|está) previsto",
                      r"(?:el )?siguiente paso", r"próximos? pasos?"),
}

KINDS = {"threat": _THREAT, "response": _RESPONSE, "fix": _FIX}

OWNS = phrases(
    r"(?:nos|me) equivoc\w*", r"fue (?:un )?error (?:nuestro|mío)",
    r"comet(?:imos|í) (?:un |varios |algunos )?errores?",
    r"(?<!no )(?:fue|es) (?:culpa|responsabilidad) (?:nuestra|mía)", r"(?:la )?culpa (?:es|fue) (?:nuestra|mía)",
    r"fallamos", r"fallé", r"(?:deberíamos|debería|tendríamos que|tendría que) haber", r"no (?:lo )?(?:detectamos|"
    r"vimos|vi|detecté)", r"(?:asumo|asumimos) (?:la |toda la )?responsabilidad", r"(?:me hago|nos hacemos) "
    r"responsables?", r"lo sient(?:o|imos)", r"(?:pido|pedimos) (?:disculpas|perdón)", r"lament(?:o|amos)",
)
UNKNOWN = phrases(
    r"no (?:lo )?(?:sabemos|sé) (?:todavía|aún)", r"(?:todavía|aún) no (?:lo )?(?:sabemos|sé)",
    r"(?:todavía|aún) no (?:está|es) (?:claro|confirmado)", r"no (?:está|es) (?:claro|confirmado) (?:todavía|aún)",
    r"no (?:podemos|puedo) (?:todavía |aún )?(?:confirmar|descartar|decir)(?:lo)?", r"(?:seguimos|sigo|estamos) "
    r"investigando", r"(?:lo )?(?:averiguaremos|vamos a averiguar)", r"no (?:estoy|estamos) segur[oa]s?",
    r"no (?:tengo|tenemos) (?:ese|el) (?:dato|número|respuesta)",
    r"lo que sabemos (?:hasta ahora|por ahora|de momento)",
    r"hasta ahora", r"de momento", r"(?:tenemos|tengo) que (?:confirmar|comprobar|verificar)(?:lo)?",
    r"no (?:tenemos|tengo) (?:todavía |aún )?(?:pruebas|evidencias|visibilidad)",
)
DEFLECTS = phrases(
    r"becari[oa]s?", r"(?:un|una) (?:sol[oa] )?(?:emplead[oa]|individuo|trabajador|trabajadora)",
    r"no (?:fue|es) culpa (?:nuestra|mía)", r"(?:seguimos|cumplimos) (?:con )?(?:el|los|nuestro|nuestros) "
    r"(?:protocolos?|procedimientos?|procesos?)",
    r"(?:nada|nadie) (?:podría|podía|habría podido) (?:haberlo|evitarlo)",
    r"(?:muy|extremadamente|altamente|tremendamente) sofisticad[oa]",
    r"(?:no puedo|no podemos) (?:hacer )?comentarios?",
    r"sin comentarios", r"no (?:puedo|podemos) comentar", r"no (?:lo )?recuerdo", r"no me consta",
    r"(?:completamente|totalmente|cien por cien|100 ?%) (?:segur[oa]s?|protegid[oa]s?)",
    r"(?:protegidos|blindados) (?:contra|frente a) todo",
    r"nunca (?:nos han|hemos sido) (?:hackeado|atacado|vulnerado)s?",
    r"ech\w* la culpa", r"culpabiliz\w*", r"(?:ya )?(?:le|te|les|os) (?:diré|diremos|contestaré|responderé) (?:más "
    r"tarde|luego|por escrito)", r"no (?:estoy|estamos) en (?:condiciones|disposición|posición)",
)
CLARIFIES = phrases(r"(?:se refiere|te refieres|os referís) a", r"quiere(?:s)? decir", r"(?:solo )?para (?:aclarar|"
                    r"asegurarme)", r"me pregunta(?:s)? (?:si|por)", r"qué (?:parte|sistema|incidente)",
                    r"puedo (?:preguntar|confirmar|comprobar)", r"cuál es el (?:alcance|contexto)",
                    r"antes de (?:responder|contestar)")
STRUCTURE = phrases(r"primero", r"en primer lugar", r"segundo", r"en segundo lugar", r"tercero", r"luego",
                    r"después", r"finalmente", r"por último", r"a continuación", r"en resumen", r"resumiendo",
                    r"la respuesta corta", r"en pocas palabras", r"dos cosas", r"tres cosas")
EVADES = phrases(r"no (?:puedo|podemos) (?:hablar|entrar) (?:de|en|sobre) (?:eso|ese tema)",
                 r"(?:eso|esa) no es (?:una pregunta|algo)", r"no (?:lo )?recuerdo", r"sin comentarios",
                 r"(?:prefiero|preferiría) no",
                 r"(?:ya )?(?:le|te) (?:respondo|contesto|digo algo) (?:más tarde|luego)",
                 r"(?:pasemos|cambiemos) (?:a otra cosa|de tema)", r"(?:sigamos|pasemos) adelante")
