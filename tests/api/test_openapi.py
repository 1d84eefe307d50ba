"""The schema of the whole API is served at /api/openapi.json (issue 3, item 8)."""


def test_openapi_lists_every_resource(api):
    spec = api.client().get('/api/openapi.json').json()
    assert spec['openapi'].startswith('3.')
    paths = spec['paths']
    for path in ('/api/session', '/api/phone', '/api/call', '/api/call/event', '/api/call/dial',
                 '/api/call/{uuid}/control', '/api/event', '/api/event/filter', '/api/sip',
                 '/api/sip/{sip_user}', '/api/announcement', '/api/recording'):
        assert path in paths, f'{path} missing from the OpenAPI schema'
    control = paths['/api/call/{uuid}/control']['post']['requestBody']['content']
    schema = control['application/json']['schema']
    assert schema  # the control union with the document's ranges is described
    tone = spec['components']['schemas']['Tone']['properties']['frequency']
    assert tone['maximum'] == 40000 and tone['minimum'] == 0
