/* Jurisdiction Ledger editing page (/maps/edit): draw changes to the map, see each one checked
 * by a dry run of the whole pending change set, submit it.
 * Plain ES2017 like maps.js; depends on Leaflet, Leaflet-Geoman (drawing with snapping) and
 * polygon-clipping (a split's part, a moved piece clipped to its unit), all vendored. Every
 * request goes to the service that served the page. */
(function () {
  'use strict';

  var JL = (window.JL = window.JL || {});
  var TOKEN_KEY = 'jl-editor-token';
  var DECIMALS = 1e7; /* the register keeps 7 decimals (domain/geometry.py) */
  var CHECK_DELAY = 250;
  var STYLE = {
    unit: { color: '#e65100', weight: 3, opacity: 1, fillColor: '#ffb74d', fillOpacity: 0.18 },
    neighbour: { color: '#1565c0', weight: 1.5, opacity: 0.9, fillColor: '#90caf9', fillOpacity: 0.12 },
    target: { color: '#0d47a1', weight: 3, opacity: 1, fillColor: '#42a5f5', fillOpacity: 0.25 },
    parent: { color: '#263238', weight: 2, opacity: 0.8, dashArray: '6 4', fill: false },
    child: { color: '#8e24aa', weight: 1, opacity: 0.8, fillOpacity: 0, dashArray: '2 3' },
    pending: { color: '#2e7d32', weight: 2, opacity: 1, fillColor: '#66bb6a', fillOpacity: 0.35 },
    preview: { color: '#1b5e20', weight: 2.5, opacity: 1, dashArray: '8 5', fill: false },
    problem: { color: '#c62828', weight: 2, opacity: 1, fillColor: '#ef5350', fillOpacity: 0.35 },
    served: { color: '#6a1b9a', weight: 2, opacity: 1, fillColor: '#ce93d8', fillOpacity: 0.4 },
    area: { color: '#4a148c', weight: 3, opacity: 1, dashArray: '10 6', fill: false },
  };
  /* Room for the panels on both sides of the map. */
  var VIEW = { paddingTopLeft: [370, 40], paddingBottomRight: [380, 40], maxZoom: 17 };
  var HINT_REPAIRS = ['make_valid', 'clip_to_parent', 'snap_to_neighbours'];

  /* ---- small helpers ------------------------------------------------------------------- */

  function config() { return window.JL_CONFIG || { prefix: '', levels: {}, order: [] }; }
  function $(id) { return document.getElementById(id); }
  function esc(value) {
    return String(value === null || value === undefined ? '' : value).replace(/[&<>"']/g, function (c) {
      return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c];
    });
  }
  function url(path) { return (config().prefix || '') + path; }
  function m2(value) {
    if (value === null || value === undefined) return '';
    return Math.round(value).toLocaleString('en-GB') + ' m²';
  }
  function token() { return sessionStorage.getItem(TOKEN_KEY) || ''; }
  function clone(value) { return JSON.parse(JSON.stringify(value)); }
  function newKey() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return 'jl-' + Date.now().toString(36) + '-' + Math.random().toString(36).slice(2);
  }
  function shiftDay(day, days) {
    var d = new Date(day + 'T00:00:00Z');
    d.setUTCDate(d.getUTCDate() + days);
    return d.toISOString().slice(0, 10);
  }

  function request(method, path, body, headers) {
    var h = { Accept: 'application/json' };
    /* The token goes with the reads too, for a service whose reads need one. */
    if (token()) h.Authorization = 'Bearer ' + token();
    Object.keys(headers || {}).forEach(function (k) { h[k] = headers[k]; });
    if (body !== undefined) h['Content-Type'] = 'application/json';
    return fetch(url(path), { method: method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) })
      .then(function (response) {
        return response.text().then(function (text) {
          var parsed = null;
          try { parsed = text ? JSON.parse(text) : null; } catch (e) { parsed = { raw: text }; }
          return { status: response.status, ok: response.ok, body: parsed };
        });
      });
  }
  function getJSON(path) {
    return request('GET', path).then(function (answer) {
      if (!answer.ok) {
        var error = answer.body && answer.body.error;
        throw new Error(error ? error.message : 'HTTP ' + answer.status);
      }
      return answer.body;
    });
  }

  /* ---- geometry (polygon-clipping works on coordinate arrays) ---------------------------- */

  function polygonsOf(geometry) {
    if (!geometry) return [];
    if (geometry.type === 'Polygon') return [geometry.coordinates];
    if (geometry.type === 'MultiPolygon') return geometry.coordinates;
    return [];
  }
  function rounded(coords) {
    return coords.map(function (polygon) {
      return polygon.map(function (ring) {
        return ring.map(function (p) { return [Math.round(p[0] * DECIMALS) / DECIMALS, Math.round(p[1] * DECIMALS) / DECIMALS]; });
      });
    });
  }
  function multi(coords) { return { type: 'MultiPolygon', coordinates: rounded(coords) }; }
  function ringArea(ring) {
    var sum = 0;
    for (var i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      sum += (ring[j][0] + ring[i][0]) * (ring[j][1] - ring[i][1]);
    }
    return Math.abs(sum / 2);
  }
  /* Roughly in m² (enough to choose the smaller side and to show a size). */
  function areaM2(coords) {
    var total = 0;
    coords.forEach(function (polygon) {
      if (!polygon.length) return;
      var lat = polygon[0][0][1] * Math.PI / 180;
      var scale = 111320 * 111320 * Math.cos(lat);
      polygon.forEach(function (ring, k) { total += (k === 0 ? 1 : -1) * ringArea(ring) * scale; });
    });
    return total;
  }
  function bboxOf(geometry) {
    var box = [Infinity, Infinity, -Infinity, -Infinity];
    polygonsOf(geometry).forEach(function (polygon) {
      polygon[0].forEach(function (p) {
        box[0] = Math.min(box[0], p[0]); box[1] = Math.min(box[1], p[1]);
        box[2] = Math.max(box[2], p[0]); box[3] = Math.max(box[3], p[1]);
      });
    });
    return box;
  }
  function intersect(a, b) { return polygonClipping.intersection(a, b); }
  function subtract(a, b) { return polygonClipping.difference(a, b); }

  /* The side of a drawn line (extended past the unit at both ends) as a polygon: the unit cut
   * by it gives the two parts of a split. */
  function sidePolygon(line, box) {
    var size = Math.max(box[2] - box[0], box[3] - box[1]) * 10 + 0.01;
    function away(from, to) {
      var dx = from[0] - to[0], dy = from[1] - to[1], n = Math.hypot(dx, dy) || 1;
      return [from[0] + dx / n * size, from[1] + dy / n * size];
    }
    var a = away(line[0], line[1]);
    var b = away(line[line.length - 1], line[line.length - 2]);
    var dx = b[0] - a[0], dy = b[1] - a[1], n = Math.hypot(dx, dy) || 1;
    var normal = [-dy / n * size, dx / n * size];
    var ring = [a].concat(line, [b, [b[0] + normal[0], b[1] + normal[1]], [a[0] + normal[0], a[1] + normal[1]], a]);
    return [[ring]];
  }

  /* ---- state ----------------------------------------------------------------------------- */

  var state = {
    day: null,
    family: null, /* {unit, parent, children, neighbours} as GeoJSON features */
    ops: [],
    history: [[]], /* snapshots of ops: undo/redo walk through them */
    at: 0,
    repair: [],
    sliver: 0,
    tool: null,
    target: null,
    check: 0,
    problems: [],
  };
  var map, layers = {};

  function setAttr(name, value) { document.documentElement.setAttribute(name, String(value)); }
  function status(text, kind) {
    var el = $('jl-status');
    el.textContent = text || '';
    el.className = 'jl-status' + (kind ? ' jl-' + kind : '');
  }

  /* ---- the change set: operations, undo and redo ---------------------------------------- */

  function commit(ops, note) {
    state.history = state.history.slice(0, state.at + 1);
    state.history.push(clone(ops));
    state.at = state.history.length - 1;
    state.ops = clone(ops);
    if (note) status(note, 'ok');
    changed();
  }
  function addOp(op, note) { commit(state.ops.concat([op]), note); }
  function removeOp(index) {
    var ops = state.ops.slice();
    ops.splice(index, 1);
    commit(ops, 'operation removed (Ctrl+Z brings it back)');
  }
  function undo() {
    if (state.at === 0) return;
    state.at -= 1;
    state.ops = clone(state.history[state.at]);
    status('undone', 'ok');
    changed();
  }
  function redo() {
    if (state.at >= state.history.length - 1) return;
    state.at += 1;
    state.ops = clone(state.history[state.at]);
    status('redone', 'ok');
    changed();
  }
  JL.undo = undo;
  JL.redo = redo;

  function describe(op) {
    switch (op.op) {
      case 'move_area': return 'move ' + m2(op._area || areaM2(op.geometry.coordinates)) + ' from ' + op.from_unit + ' to ' + op.to_unit;
      case 'split': return 'split ' + op.unit + ': new ' + op.parts.map(function (p) { return p.code + ' ' + p.name; }).join(', ');
      case 'merge': return 'merge ' + op.units.join(' + ') + ' into ' + (op.absorb_into || 'a new unit ' + op.into.code + ' ' + op.into.name);
      case 'change_service_area':
        return 'office ' + op.code + ' serves ' + (op.serves.length ? op.serves.join(', ') : 'its whole unit');
      case 'rename': return 'rename ' + op.unit + ' to ' + op.name;
      case 'lay_grids': case 'regrid':
        return op.op.replace('_', ' ') + ' of ' + op.community + ': ' + op.grids.length + ' grid' + (op.grids.length === 1 ? '' : 's');
      case 'open_workstation': return 'open workstation ' + op.code + ' ' + op.name + ' serving ' + op.serves.join(', ');
      case 'close_workstation': return 'close workstation ' + op.code + ' (successor ' + op.successor + ')';
      case 'assign_coverage': return 'workstation ' + op.workstation + ' takes over ' + op.communities.join(', ');
      default: return op.op;
    }
  }

  function opGeometries(op) {
    if (op.geometry) return [op.geometry];
    if (op.parts) return op.parts.map(function (p) { return p.geometry; });
    if (op.grids) return op.grids.map(function (g) { return g.geometry; });
    return [];
  }

  function renderOps() {
    var list = $('jl-ops');
    if (!state.ops.length) {
      list.innerHTML = '<li class="jl-empty">No operation yet: pick a tool on the left.</li>';
    } else {
      list.innerHTML = state.ops.map(function (op, i) {
        return '<li class="jl-op" data-index="' + i + '"><span class="jl-op-name">' + esc(op.op) + '</span> ' +
          esc(describe(op)) + ' <button type="button" class="jl-remove" data-index="' + i +
          '" title="Remove this operation" aria-label="Remove operation ' + (i + 1) + '">×</button>' +
          (op._note ? '<div class="jl-op-note">⚠ ' + esc(op._note) + '</div>' : '') + '</li>';
      }).join('');
    }
    $('jl-undo').disabled = state.at === 0;
    $('jl-redo').disabled = state.at >= state.history.length - 1;
    setAttr('data-jl-ops', state.ops.length);
    layers.pending.clearLayers();
    state.ops.forEach(function (op) {
      opGeometries(op).forEach(function (g) { L.geoJSON(g, { style: STYLE.pending, pmIgnore: true, snapIgnore: true, interactive: false }).addTo(layers.pending); });
    });
  }

  function changed() {
    renderOps();
    scheduleCheck();
  }

  /* ---- live validation: a dry run of the whole change set after every edit ---------------- */

  var timer = null;
  function scheduleCheck() {
    clearTimeout(timer);
    if (state.submitting) return; /* the submit answers for the change set as it stands */
    setAttr('data-jl-check', state.ops.length ? 'pending' : 'idle');
    timer = setTimeout(runCheck, CHECK_DELAY);
  }

  function body(draft) {
    var out = {
      effective: $('jl-effective').value,
      reason: $('jl-reason').value.trim() || (draft ? 'draft (checked from the editing page)' : ''),
      /* Fields starting with _ are the page's own notes (the area drawn), not sent. */
      operations: state.ops.map(function (op) {
        var sent = {};
        Object.keys(op).forEach(function (k) { if (k.charAt(0) !== '_') sent[k] = clone(op[k]); });
        return sent;
      }),
    };
    var document_ = $('jl-document').value.trim();
    if (document_) out.document = document_;
    if (state.repair.length) {
      out.repair = state.repair.slice();
      if (state.sliver) out.sliver_m2 = state.sliver;
    }
    return out;
  }

  function runCheck() {
    layers.problems.clearLayers();
    if (!state.ops.length) {
      layers.preview.clearLayers();
      state.problems = [];
      $('jl-problems').innerHTML = '<li class="jl-empty">No edit yet.</li>';
      $('jl-check').textContent = '';
      $('jl-submit').disabled = true;
      renderRepairs([]);
      setAttr('data-jl-check', 'idle');
      return Promise.resolve();
    }
    if (!token()) {
      $('jl-check').textContent = 'enter an editor token to check';
      setAttr('data-jl-check', 'error');
      return Promise.resolve();
    }
    var number = ++state.check;
    setAttr('data-jl-check', 'checking');
    $('jl-check').textContent = 'checking…';
    var started = performance.now();
    return request('POST', '/v1/changesets?dry_run=true&problem_geometry=true&preview=true' + basedOn(), body(true), { Authorization: 'Bearer ' + token() })
      .then(function (answer) {
        if (number !== state.check) return; /* a later edit was checked since */
        var ms = Math.round(performance.now() - started);
        setAttr('data-jl-checks', number);
        showPreview(answer.body && answer.body.preview);
        if (answer.ok) {
          showProblems([]);
          renderRepairs((answer.body && answer.body.repairs) || []);
          renderNotes((answer.body && answer.body.notes) || []);
          var units = (answer.body && answer.body.units) || [];
          $('jl-check').textContent = '✓ valid · ' + units.length + ' unit' + (units.length === 1 ? '' : 's') + ' change · ' + ms + ' ms';
          $('jl-check').className = 'jl-check jl-ok';
          $('jl-submit').disabled = false;
          setAttr('data-jl-check', 'valid');
          return;
        }
        var error = (answer.body && answer.body.error) || { message: 'HTTP ' + answer.status, details: [] };
        $('jl-submit').disabled = true;
        $('jl-check').className = 'jl-check jl-bad';
        if (answer.status === 409) {
          $('jl-check').textContent = '✗ changed meanwhile: reload';
          showProblems([{ code: error.code, message: error.message }]);
          conflict(error);
          setAttr('data-jl-check', 'conflict');
          return;
        }
        if (answer.status === 401 || answer.status === 403) {
          $('jl-check').textContent = error.message;
          tokenState(false, error.message);
          setAttr('data-jl-check', 'error');
          return;
        }
        var problems = (error.details || []).filter(function (d) { return d.message; });
        if (!problems.length) problems = [{ code: error.code, message: error.message }];
        showProblems(problems);
        renderNotes([]);
        renderRepairs((answer.body && answer.body.repairs) || []);
        $('jl-check').textContent = '✗ ' + problems.length + ' problem' + (problems.length === 1 ? '' : 's') + ' · ' + ms + ' ms';
        setAttr('data-jl-check', 'invalid');
      })
      .catch(function (err) {
        if (number !== state.check) return;
        $('jl-check').textContent = 'the check failed: ' + err.message;
        setAttr('data-jl-check', 'error');
      });
  }
  JL.check = runCheck;

  /* The map the edits were drawn on: another change set to the same family after it is a 409. */
  function basedOn() {
    return state.basedOn === null || state.basedOn === undefined ? '' : '&based_on=' + state.basedOn;
  }

  function conflict(error) {
    /* The register's message names the other change set and what to do. */
    $('jl-result').innerHTML = '<div class="jl-warning jl-conflict"><strong>Someone else changed the same family meanwhile.</strong> ' +
      esc(error.message) + '. Your edits are kept on this page. <button type="button" id="jl-reload">Reload the units</button></div>';
    $('jl-check').textContent = '✗ drawn on an older map: reload';
    $('jl-check').className = 'jl-check jl-bad';
    setAttr('data-jl-submit', 'conflict');
  }

  /* The units the change set changes, as they would be afterwards (the dry run's preview). */
  function showPreview(units) {
    layers.preview.clearLayers();
    (units || []).forEach(function (unit) {
      if (!unit.geometry) return;
      L.geoJSON(unit.geometry, { style: STYLE.preview, pmIgnore: true, snapIgnore: true, interactive: false }).addTo(layers.preview);
    });
  }

  /* The repair options a problem's hint names, with the sliver they need. */
  function repairsOf(problem) {
    var hint = problem.hint || '';
    var found = [];
    HINT_REPAIRS.forEach(function (name) { if (hint.indexOf('repair=' + name) >= 0) found.push(name); });
    if (hint.indexOf('snap_to_neighbours') >= 0 && found.indexOf('snap_to_neighbours') < 0) found.push('snap_to_neighbours');
    return found;
  }

  function showProblems(problems) {
    state.problems = problems;
    var list = $('jl-problems');
    layers.problems.clearLayers();
    if (!problems.length) {
      list.innerHTML = '<li class="jl-valid">No problem: the change set keeps every rule.</li>';
      return;
    }
    list.innerHTML = problems.map(function (p, i) {
      var repairs = repairsOf(p).map(function (name) {
        var sliver = name === 'snap_to_neighbours' && p.area_m2 ? Math.ceil(p.area_m2 * 1.01 + 1) : 0;
        if (state.repair.indexOf(name) >= 0 && (!sliver || state.sliver >= sliver)) {
          /* Asked for already, and the problem is still there: say so rather than offer it again. */
          return '<span class="jl-repair-failed">' + esc(name) + ' was asked for and did not fix this: repairs change only the ' +
            'territories this change set draws, where one of them borders the piece; change the drawing instead.</span>';
        }
        return '<button type="button" class="jl-apply" data-repair="' + name + '" data-sliver="' + sliver + '">' +
          'Apply ' + esc(name) + (sliver ? ' (≤ ' + esc(m2(sliver)) + ')' : '') + '</button>';
      }).join(' ');
      return '<li class="jl-problem" data-index="' + i + '" data-code="' + esc(p.code) + '">' +
        '<span class="jl-problem-code">' + esc(p.code) + '</span>' +
        (p.area_m2 !== undefined && p.area_m2 !== null ? ' <strong>' + esc(m2(p.area_m2)) + '</strong>' : '') +
        '<div class="jl-problem-message">' + esc(p.message) + '</div>' +
        (p.hint ? '<div class="jl-problem-hint">' + esc(p.hint) + '</div>' : '') +
        (repairs ? '<div class="jl-problem-repairs">' + repairs + '</div>' : '') + '</li>';
    }).join('');
    problems.forEach(function (p, i) {
      var drawn = null;
      if (p.geometry) {
        drawn = L.geoJSON(p.geometry, { style: STYLE.problem, pmIgnore: true, snapIgnore: true }).addTo(layers.problems);
      }
      var point = p.location_point;
      if (point) {
        var marker = L.circleMarker([point.lat, point.lon], {
          radius: 9, color: '#b71c1c', weight: 2, fillColor: '#ef5350', fillOpacity: 0.85, pmIgnore: true, snapIgnore: true,
        }).addTo(layers.problems);
        marker.bindTooltip(esc(p.code) + (p.area_m2 ? ' · ' + esc(m2(p.area_m2)) : '') + '<br>' + esc(p.message), { className: 'jl-problem-tip' });
        marker.on('click', function () { focusProblem(i); });
      }
      if (drawn) drawn.on('click', function () { focusProblem(i); });
    });
  }

  function focusProblem(index) {
    var p = state.problems[index];
    if (!p) return;
    Array.prototype.forEach.call(document.querySelectorAll('.jl-problem'), function (el) {
      el.classList.toggle('jl-focus', Number(el.getAttribute('data-index')) === index);
    });
    if (p.geometry) {
      map.fitBounds(L.geoJSON(p.geometry).getBounds(), VIEW);
    } else if (p.location_point) {
      map.setView([p.location_point.lat, p.location_point.lon], Math.max(map.getZoom(), 14));
    }
  }

  /* What a valid edit does besides its operations (an office's service area that follows,
     grows or shrinks: docs/offices.md), shown before it is submitted. */
  function renderNotes(notes) {
    $('jl-notes').innerHTML = notes.map(function (n) {
      return '<li data-jl-note="' + esc(n.code) + '"><b>' + esc(n.code) + '</b>: ' + esc(n.message) + '</li>';
    }).join('');
  }

  function renderRepairs(made) {
    var box = $('jl-repairs');
    var chips = state.repair.map(function (name) {
      var extra = name === 'snap_to_neighbours' && state.sliver ? ' ≤ ' + m2(state.sliver) : '';
      return '<span class="jl-chip-repair">' + esc(name + extra) +
        ' <button type="button" class="jl-unrepair" data-repair="' + name + '" title="Stop asking for this repair">×</button></span>';
    }).join(' ');
    var list = (made || []).map(function (r) {
      return '<li>' + esc(r.repair) + ' · ' + esc(r.code) + ' · ' + esc(m2(r.area_m2)) + ': ' + esc(r.message) + '</li>';
    }).join('');
    box.innerHTML = (chips ? '<div>Repairs asked for: ' + chips + '</div>' : '') +
      (list ? '<ul class="jl-repairs-made">' + list + '</ul>' : '');
  }

  function applyRepair(name, sliver) {
    if (state.repair.indexOf(name) < 0) state.repair.push(name);
    if (sliver) state.sliver = Math.max(state.sliver, sliver);
    status('repair ' + name + ' asked for: checking again', 'ok');
    scheduleCheck();
  }

  /* ---- submitting ----------------------------------------------------------------------- */

  function submit() {
    var sent = body(false);
    if (!sent.reason) {
      $('jl-result').innerHTML = '<p class="jl-warning">Give the reason for the change (shown in the log of legal acts).</p>';
      $('jl-reason').focus();
      return Promise.resolve();
    }
    $('jl-submit').disabled = true;
    /* No dry run may cross the submit: it would be checked against the map the submit changes. */
    clearTimeout(timer);
    state.check += 1;
    state.submitting = true;
    $('jl-result').textContent = 'submitting…';
    setAttr('data-jl-submit', 'sending');
    return request('POST', '/v1/changesets?' + basedOn().slice(1), sent, { Authorization: 'Bearer ' + token(), 'Idempotency-Key': newKey() })
      .then(function (answer) {
        state.submitting = false;
        if (answer.ok) return submitted(answer.body, sent.effective);
        var error = (answer.body && answer.body.error) || { message: 'HTTP ' + answer.status };
        $('jl-submit').disabled = false;
        if (answer.status === 409) {
          conflict(error);
          return;
        }
        var details = (error.details || []).filter(function (d) { return d.message; });
        if (details.length) showProblems(details);
        $('jl-result').innerHTML = '<p class="jl-warning">Refused (' + esc(error.code || answer.status) + '): ' + esc(error.message) + '</p>';
        setAttr('data-jl-submit', 'refused');
      })
      .catch(function (err) {
        state.submitting = false;
        $('jl-submit').disabled = false;
        $('jl-result').innerHTML = '<p class="jl-warning">Not sent: ' + esc(err.message) + '</p>';
        setAttr('data-jl-submit', 'refused');
      });
  }

  function submitted(receipt, effective) {
    var id = receipt.id || '';
    var units = receipt.units || [];
    var before = shiftDay(effective, -1);
    $('jl-result').innerHTML = '<div class="jl-receipt"><strong>Recorded</strong> change set <code id="jl-receipt-id">' + esc(id) + '</code>, effective ' +
      esc(effective) + (receipt.projected === false ? ' (the maps show it in a moment)' : '') + ': ' + receipt.events + ' events, units ' +
      units.map(function (c) { return '<code>' + esc(c) + '</code>'; }).join(', ') +
      '<nav class="jl-links"><a href="' + esc(url('/v1/changesets/' + id)) + '">the change set</a>' +
      '<a href="' + esc(url('/maps?date=' + effective)) + '">map on ' + esc(effective) + '</a>' +
      '<a href="' + esc(url('/maps/compare?before=' + before + '&after=' + effective)) + '">compare</a>' +
      '<a href="' + esc(url('/v1/changes?from=' + before + '&to=' + effective)) + '">changes</a></nav></div>';
    setAttr('data-jl-submit', 'done');
    setAttr('data-jl-receipt', id);
    if (receipt.position !== undefined && receipt.position !== null) state.basedOn = receipt.position;
    state.ops = []; state.history = [[]]; state.at = 0; state.repair = []; state.sliver = 0;
    renderOps(); runCheck();
    var keep = state.family ? state.family.unit.properties.code : '';
    $('jl-date').value = effective;
    /* The map on the effective date; the unit may have ended (merged away): then its parent. */
    return openUnit(keep, effective).catch(function () {
      var parent = state.family && state.family.unit.properties.parent;
      return parent ? openUnit(parent, effective) : null;
    });
  }

  /* ---- the unit and its family ---------------------------------------------------------- */

  function familyStyle(role) {
    return function (feature) {
      if (role === 'neighbour' && state.target === feature.properties.code) return STYLE.target;
      return STYLE[role];
    };
  }

  function openUnit(code, day) {
    if (!code) return Promise.resolve();
    day = day || $('jl-date').value || config().today;
    status('loading ' + code + ' on ' + day + '…');
    setAttr('data-jl-ready', 'false');
    var when = 'date=' + encodeURIComponent(day);
    return getJSON('/v1/units/' + encodeURIComponent(code) + '?' + when).then(function (unit) {
      var props = unit.properties;
      var box = bboxOf(unit.geometry);
      var pad = Math.max(box[2] - box[0], box[3] - box[1]) * 0.02;
      var bbox = [box[0] - pad, box[1] - pad, box[2] + pad, box[3] + pad].map(function (v) { return v.toFixed(6); }).join(',');
      return Promise.all([
        props.parent ? getJSON('/v1/units/' + encodeURIComponent(props.parent) + '?' + when).catch(function () { return null; }) : null,
        getJSON('/v1/units?parent=' + encodeURIComponent(code) + '&' + when + '&limit=1000'),
        getJSON('/v1/units?level=' + encodeURIComponent(props.level) + '&bbox=' + bbox + '&' + when + '&limit=300'),
        getJSON('/v1/changesets?limit=1').catch(function () { return null; }),
      ]).then(function (parts) {
        var newest = parts[3] && parts[3].change_sets && parts[3].change_sets[0];
        state.basedOn = newest ? newest.position : null;
        stopEdge();
        state.day = day;
        state.gridCodes = null;
        state.suggested = null;
        state.family = {
          unit: unit,
          parent: parts[0],
          children: parts[1].features,
          neighbours: parts[2].features.filter(function (f) { return f.properties.code !== code && f.geometry; }),
        };
        if (state.target && !state.family.neighbours.some(function (f) { return f.properties.code === state.target; })) state.target = null;
        drawFamily(true);
        renderFamily();
        enableTools();
        $('jl-day').textContent = day;
        $('jl-map-link').href = url('/maps?date=' + day);
        $('jl-compare-link').href = url('/maps/compare?before=' + shiftDay(day, -1) + '&after=' + day);
        history.replaceState(null, '', url('/maps/edit?date=' + day + '&unit=' + encodeURIComponent(code)));
        status(props.name + ' ' + code + ' on ' + day + ': ' + state.family.neighbours.length + ' neighbours, ' +
          state.family.children.length + ' children', 'ok');
        if (state.tool) showTool(state.tool);
        setAttr('data-jl-ready', 'true');
        setAttr('data-jl-unit', code);
        if (!JL.readyAt) JL.readyAt = performance.now();
      });
    }).catch(function (err) {
      status(err.message, 'bad');
      setAttr('data-jl-ready', 'true');
      throw err;
    });
  }
  JL.openUnit = openUnit;

  function drawFamily(fit) {
    var f = state.family;
    ['parent', 'neighbours', 'children', 'unit'].forEach(function (name) { layers[name].clearLayers(); });
    if (f.parent && f.parent.geometry) layers.parent.addData(f.parent);
    f.neighbours.forEach(function (n) { layers.neighbours.addData(n); });
    /* The children over the unit, so a click on one reaches it (to open it, or to tick it). */
    layers.unit.addData(f.unit);
    f.children.forEach(function (c) { if (c.geometry) layers.children.addData(c); });
    if (fit) map.fitBounds(layers.unit.getBounds(), VIEW);
  }

  function unitLink(feature, role) {
    var p = feature.properties;
    return '<li><a href="#" class="jl-open" data-code="' + esc(p.code) + '">' + esc(p.name) + ' <code>' + esc(p.code) + '</code></a>' +
      (role ? ' <small>' + esc(role) + '</small>' : '') + '</li>';
  }

  function renderFamily() {
    var f = state.family, p = f.unit.properties;
    $('jl-unit-title').innerHTML = esc(p.name) + ' <code>' + esc(p.code) + '</code>';
    $('jl-unit-sub').innerHTML = esc(p.level) + ' · as it is on <strong id="jl-day">' + esc(state.day) + '</strong>';
    var html = '';
    if (f.parent) html += '<div class="jl-fam-row"><span class="jl-chip-line jl-parent"></span>in ' + unitLink(f.parent).replace(/<\/?li>/g, '') + '</div>';
    html += '<details><summary><span class="jl-chip-line jl-neighbour"></span>' + f.neighbours.length + ' neighbours</summary><ul>' +
      f.neighbours.map(function (n) { return unitLink(n); }).join('') + '</ul></details>';
    html += '<details><summary><span class="jl-chip-line jl-child"></span>' + f.children.length + ' children</summary><ul>' +
      f.children.map(function (c) { return unitLink(c, c.properties.level); }).join('') + '</ul></details>';
    $('jl-family').innerHTML = html;
  }

  /* ---- tools ---------------------------------------------------------------------------- */

  function enableTools() {
    Array.prototype.forEach.call(document.querySelectorAll('.jl-tool'), function (b) { b.disabled = !state.family; });
  }

  function stopDrawing() {
    if (map.pm.globalDrawModeEnabled()) map.pm.disableDraw();
  }

  function draw(shape, purpose) {
    stopDrawing();
    state.drawing = purpose;
    map.pm.enableDraw(shape, {
      snappable: true,
      snapDistance: 18,
      allowSelfIntersection: false,
      templineStyle: { color: '#2e7d32' },
      hintlineStyle: { color: '#2e7d32', dashArray: [5, 5] },
      pathOptions: STYLE.pending,
    });
    setAttr('data-jl-drawing', purpose);
    status(shape === 'Line' ? 'click along the line, then click its last point again (or press Enter); Esc cancels'
      : 'click the corners (they snap to the edges and vertices shown); click the first one again or press Enter; Esc cancels');
  }

  function neighbourOptions(selected) {
    return state.family.neighbours.map(function (n) {
      var p = n.properties;
      return '<option value="' + esc(p.code) + '"' + (p.code === selected ? ' selected' : '') + '>' + esc(p.name + ' ' + p.code) + '</option>';
    }).join('');
  }

  function nextCode(codes, base, width) {
    var used = {};
    codes.forEach(function (c) { used[c] = true; });
    var numbers = codes.filter(function (c) { return c.indexOf(base) === 0 && /^\d+$/.test(c.slice(base.length)); })
      .map(function (c) { return parseInt(c.slice(base.length), 10); });
    var n = (numbers.length ? Math.max.apply(null, numbers) : 0) + 1;
    var candidate = base + String(n).padStart(width, '0');
    while (used[candidate]) { n += 1; candidate = base + String(n).padStart(width, '0'); }
    return candidate;
  }

  var TOOL_KEYS = { m: 'move', e: 'edge', s: 'split' };

  var TOOL_FORMS = {
    move: function () {
      var code = state.family.unit.properties.code;
      return '<p class="jl-hint">Draw the piece of territory that passes to the neighbour; it snaps to the edges shown. ' +
        'Children inside it follow; a child the new line cuts is reported.</p>' +
        '<label class="jl-field">Direction <select id="jl-move-direction"><option value="out">from ' + esc(code) +
        ' to the neighbour</option><option value="in">from the neighbour to ' + esc(code) + '</option></select></label>' +
        '<label class="jl-field">Neighbour <select id="jl-move-target">' + neighbourOptions(state.target) + '</select></label>' +
        '<button type="button" id="jl-move-draw">Draw the piece</button>';
    },
    split: function () {
      var p = state.family.unit.properties;
      return '<p class="jl-hint">Draw a line across ' + esc(p.name) + ' from outside to outside. The smaller side becomes a new ' +
        esc(p.level) + '; ' + esc(p.code) + ' keeps the rest; children follow by location.</p>' +
        '<label class="jl-field">New code <input id="jl-split-code" value="' + esc(state.suggested || '') + '"></label>' +
        '<label class="jl-field">New name <input id="jl-split-name" value="' + esc(p.name + ' (new part)') + '"></label>' +
        '<button type="button" id="jl-split-draw">Draw the line</button>';
    },
    merge: function () {
      var p = state.family.unit.properties;
      return '<p class="jl-hint">Either the neighbour ends and its territory and children join ' + esc(p.code) +
        ', or both end and a new ' + esc(p.level) + ' takes their territory and children.</p>' +
        '<label class="jl-field">Neighbour <select id="jl-merge-target">' + neighbourOptions(state.target) + '</select></label>' +
        '<label class="jl-field">Into <select id="jl-merge-mode"><option value="absorb">' + esc(p.code) + ' (the neighbour ends)</option>' +
        '<option value="new">a new unit (both end)</option></select></label>' +
        '<div id="jl-merge-new" hidden><label class="jl-field">New code <input id="jl-merge-code" value="' + esc(state.suggested || '') + '"></label>' +
        '<label class="jl-field">New name <input id="jl-merge-name" placeholder="name of the merged unit"></label></div>' +
        '<button type="button" id="jl-merge-add">Add the merge</button>';
    },
    offices: function () { return '<p class="jl-hint">Loading the offices…</p>'; },
    rename: function () {
      var p = state.family.unit.properties;
      return '<label class="jl-field">New name <input id="jl-rename-name" value="' + esc(p.name) + '"></label>' +
        '<label class="jl-field">English name <input id="jl-rename-en" value="' + esc(p.name_en || '') + '"></label>' +
        '<button type="button" id="jl-rename-add">Add the rename</button>';
    },
    grids: function () {
      var p = state.family.unit.properties;
      if (p.level !== 'community') return '<p class="jl-hint">Grids belong to a community: open one (click it on the map or in the children).</p>';
      var existing = state.family.children.length;
      return '<p class="jl-hint">' + (existing ? esc(existing) + ' grids now: new ones replace them (regrid).' : 'No grid yet (lay_grids).') + '</p>' +
        '<label class="jl-field">Grids <input id="jl-grid-count" type="number" min="1" max="60" value="' + (existing || 4) + '"></label>' +
        '<label class="jl-field">Officer <input id="jl-grid-officer" placeholder="grid officer (optional)"></label>' +
        '<button type="button" id="jl-grid-strips">Lay out in strips</button> ' +
        '<button type="button" id="jl-grid-draw">Draw a grid</button> ' +
        '<button type="button" id="jl-grid-done"' + (state.gridDraft && state.gridDraft.length ? '' : ' disabled') + '>Use the ' +
        (state.gridDraft ? state.gridDraft.length : 0) + ' drawn</button>';
    },
    workstation: function () { return '<p class="jl-hint">Loading the workstations…</p>'; },
    edge: function () {
      return '<p class="jl-hint">Drag the corners of ' + esc(state.family.unit.properties.code) + ' (a click on an edge adds one; they snap ' +
        'to the corners shown). What the unit gains comes from the neighbours it lies in, a part from each; what it loses passes ' +
        'to the neighbour along that edge (marked ⚠ when it borders two): one move_area each.</p>' +
        (state.edgeLayer ? '<button type="button" id="jl-edge-done">Done</button> <button type="button" id="jl-edge-cancel">Cancel</button>'
          : '<button type="button" id="jl-edge-start">Start dragging</button>');
    },
  };

  function showTool(name) {
    if (name !== 'edge') stopEdge();
    state.tool = name;
    Array.prototype.forEach.call(document.querySelectorAll('.jl-tool'), function (b) {
      b.classList.toggle('jl-active', b.getAttribute('data-tool') === name);
    });
    if ((name === 'split' || name === 'merge') && !state.suggested) suggestSplitCode();
    if (name !== 'offices') { layers.service.clearLayers(); state.office = null; }
    if (name === 'grids' && state.family.unit.properties.level === 'community' && !state.gridCodes) {
      state.gridCodes = [];
      var children = state.family.children;
      var level = children.length ? children[0].properties.level : 'grid';
      usedCodes(level, state.family.unit.geometry).then(function (codes) {
        state.gridCodes = codes.concat(children.map(function (c) { return c.properties.code; }));
      });
    }
    $('jl-tool-form').innerHTML = TOOL_FORMS[name]();
    if (name === 'workstation') workstationForm();
    if (name === 'offices') officesForm();
  }

  /* Codes of `level` ever used around the unit (every version, OGC items over all time): codes
   * are never reused, so a new one must be past them. The dry run still has the last word. */
  function usedCodes(level, geometry) {
    var box = bboxOf(geometry).map(function (v, i) { return (v + (i < 2 ? -0.001 : 0.001)).toFixed(6); }).join(',');
    return getJSON('/ogc/collections/' + encodeURIComponent(level) + '/items?datetime=1900-01-01/2999-12-31&limit=10000&bbox=' + box)
      .then(function (page) { return page.features.map(function (f) { return f.properties.code; }); })
      .catch(function () { return []; });
  }

  function suggestSplitCode() {
    var p = state.family.unit.properties;
    var parent = p.parent;
    var base = parent || p.code.slice(0, -3);
    var path = '/v1/units?geometry=false&limit=10000&date=' + state.day + (parent ? '&parent=' + encodeURIComponent(parent) : '&level=' + encodeURIComponent(p.level));
    Promise.all([getJSON(path), usedCodes(p.level, state.family.unit.geometry)]).then(function (parts) {
      var codes = parts[0].features.map(function (f) { return f.properties.code; }).concat(parts[1]);
      state.suggested = nextCode(codes, base, p.code.length - base.length);
      ['jl-split-code', 'jl-merge-code'].forEach(function (id) {
        var input = $(id);
        if (input && !input.value) input.value = state.suggested;
      });
    }).catch(function () {});
  }

  /* Geoman snaps a click near an edge onto that edge, which by a fraction of a pixel misses a
   * vertex lying on it (a grid's corner on its community's edge). So each corner drawn within
   * VERTEX_PX of a vertex of the units shown becomes that vertex, exactly. */
  var VERTEX_PX = 4;
  function snapToVertices(geometry) {
    var f = state.family;
    var vertices = [];
    [f.unit].concat(f.parent ? [f.parent] : [], f.neighbours, f.children).forEach(function (feature) {
      polygonsOf(feature.geometry).forEach(function (polygon) {
        polygon.forEach(function (ring) { ring.forEach(function (p) { vertices.push(p); }); });
      });
    });
    var projected = vertices.map(function (p) { return map.latLngToLayerPoint([p[1], p[0]]); });
    function snap(p) {
      var at = map.latLngToLayerPoint([p[1], p[0]]), best = null, bestDistance = VERTEX_PX;
      for (var i = 0; i < projected.length; i++) {
        var d = at.distanceTo(projected[i]);
        if (d <= bestDistance) { best = vertices[i]; bestDistance = d; }
      }
      return best ? [best[0], best[1]] : p;
    }
    var rings = function (polygon) { return polygon.map(function (ring) { return ring.map(snap); }); };
    var coords = geometry.type === 'MultiPolygon' ? geometry.coordinates.map(rings)
      : geometry.type === 'Polygon' ? rings(geometry.coordinates)
        : geometry.coordinates.map(snap);
    return { type: geometry.type, coordinates: coords };
  }

  /* ---- dragging the edge: the unit's outline edited in place, the difference as moves ---- */

  function startEdge() {
    stopEdge();
    var layer = L.geoJSON(state.family.unit.geometry, { style: STYLE.pending }).getLayers()[0];
    layer.addTo(map);
    layer.pm.enable({ snappable: true, snapDistance: 18, allowSelfIntersection: false, draggable: false });
    state.edgeLayer = layer;
    setAttr('data-jl-drawing', 'edge');
    status('drag the corners; Done turns the change into moves');
    showTool('edge');
  }

  function stopEdge() {
    if (!state.edgeLayer) return;
    state.edgeLayer.pm.disable();
    map.removeLayer(state.edgeLayer);
    state.edgeLayer = null;
    setAttr('data-jl-drawing', '');
  }

  /* Screen length of the piece's edges lying on (within a pixel of) each neighbour's outline. */
  function sharedLengths(piece) {
    var scores = {};
    var segments = [];
    state.family.neighbours.forEach(function (n) {
      polygonsOf(n.geometry).forEach(function (polygon) {
        polygon.forEach(function (ring) {
          for (var i = 1; i < ring.length; i++) {
            segments.push([n.properties.code, map.latLngToLayerPoint([ring[i - 1][1], ring[i - 1][0]]), map.latLngToLayerPoint([ring[i][1], ring[i][0]])]);
          }
        });
      });
    });
    piece.forEach(function (ring) {
      for (var i = 1; i < ring.length; i++) {
        var a = map.latLngToLayerPoint([ring[i - 1][1], ring[i - 1][0]]), b = map.latLngToLayerPoint([ring[i][1], ring[i][0]]);
        var mid = L.point((a.x + b.x) / 2, (a.y + b.y) / 2);
        for (var k = 0; k < segments.length; k++) {
          if (L.LineUtil.pointToSegmentDistance(mid, segments[k][1], segments[k][2]) < 1) {
            scores[segments[k][0]] = (scores[segments[k][0]] || 0) + a.distanceTo(b);
            break;
          }
        }
      }
    });
    return scores;
  }

  function best(scores) {
    var top = null;
    Object.keys(scores).forEach(function (code) { if (scores[code] > 0 && (top === null || scores[code] > scores[top])) top = code; });
    return top;
  }

  /* Slivers the overlay leaves along unmoved edges (rounding), not pieces anyone moved. */
  var EDGE_NOISE_M2 = 25;
  /* A lost piece bordering a second neighbour along at least this many pixels is ambiguous. */
  var EDGE_SHARED_PX = 3;

  function finishEdge() {
    var edited = polygonsOf(snapToVertices(state.edgeLayer.toGeoJSON(false).geometry));
    stopEdge();
    var unit = state.family.unit, own = polygonsOf(unit.geometry), code = unit.properties.code;
    var ops = [], skipped = 0;
    /* What the unit gains is split by location: each part comes from the neighbour it lies in. */
    subtract(edited, own).forEach(function (piece) {
      if (areaM2([piece]) < EDGE_NOISE_M2) return;
      var taken = 0;
      state.family.neighbours.forEach(function (n) {
        var part = intersect([piece], polygonsOf(n.geometry));
        var area = areaM2(part);
        if (area < EDGE_NOISE_M2) return;
        taken += area;
        ops.push({ op: 'move_area', from_unit: n.properties.code, to_unit: code, geometry: multi(part), _area: Math.round(area) });
      });
      if (areaM2([piece]) - taken >= EDGE_NOISE_M2) skipped += 1;
    });
    /* What it loses goes to the neighbour sharing the longest edge with it; where it borders
     * more than one (a corner shared by three units) the operation says so, for a person to check. */
    subtract(own, edited).forEach(function (piece) {
      if (areaM2([piece]) < EDGE_NOISE_M2) return;
      var scores = sharedLengths(piece);
      var to = best(scores);
      if (!to) { skipped += 1; return; }
      var op = { op: 'move_area', from_unit: code, to_unit: to, geometry: multi([piece]), _area: Math.round(areaM2([piece])) };
      var others = Object.keys(scores).filter(function (c) { return c !== to && scores[c] >= EDGE_SHARED_PX; });
      if (others.length) {
        op._note = 'the piece also borders ' + others.join(', ') + ': check that all of it should pass to ' + to +
          ' (or remove this and draw the moves with Move area)';
      }
      ops.push(op);
    });
    showTool('edge');
    if (!ops.length) { status(skipped ? 'the change touches no neighbour: nothing to move' : 'nothing changed', 'bad'); return; }
    commit(state.ops.concat(ops), ops.length + ' move' + (ops.length === 1 ? '' : 's') + ' from the dragged edge: checking' +
      (skipped ? ' (' + skipped + ' piece(s) touching no neighbour left out)' : '') +
      (ops.some(function (op) { return op._note; }) ? '; a piece borders two neighbours: see the note in the change set' : ''));
  }

  /* A shape was drawn: turn it into the operation of the tool in use. */
  function created(event) {
    var layer = event.layer;
    var geometry = snapToVertices(layer.toGeoJSON(false).geometry);
    map.removeLayer(layer);
    var purpose = state.drawing;
    state.drawing = null;
    setAttr('data-jl-drawing', '');
    var unit = state.family.unit;
    var own = polygonsOf(unit.geometry);
    if (purpose === 'move') {
      var direction = ($('jl-move-direction') || {}).value || 'out';
      var other = state.family.neighbours.filter(function (n) { return n.properties.code === state.target; })[0];
      if (!other) { status('choose the neighbour first', 'bad'); return; }
      var from = direction === 'out' ? unit : other, to = direction === 'out' ? other : unit;
      /* Sent as drawn: the register takes the part inside the giving unit, so a piece drawn a
       * little across the shared edge moves exactly up to that edge. */
      var piece = intersect([geometry.coordinates], polygonsOf(from.geometry));
      if (!piece.length) { status('the piece does not overlap ' + from.properties.code + ': draw it over the part that passes', 'bad'); return; }
      addOp({ op: 'move_area', from_unit: from.properties.code, to_unit: to.properties.code, geometry: multi([geometry.coordinates]), _area: Math.round(areaM2(piece)) },
        'piece of ' + m2(areaM2(piece)) + ' passes from ' + from.properties.code + ' to ' + to.properties.code + ': checking');
    } else if (purpose === 'split') {
      var line = geometry.coordinates;
      var side = sidePolygon(line, bboxOf(unit.geometry));
      var inside = intersect(own, side), outside = subtract(own, side);
      if (!inside.length || !outside.length) { status('the line must cross the unit from one side to the other', 'bad'); return; }
      var part = areaM2(inside) <= areaM2(outside) ? inside : outside;
      var code = ($('jl-split-code') || {}).value || state.suggested;
      var name = ($('jl-split-name') || {}).value || unit.properties.name + ' (new part)';
      addOp({ op: 'split', unit: unit.properties.code, mode: 'split_off', reassign_children: 'by_location',
        parts: [{ code: code.trim(), name: name.trim(), geometry: multi(part) }] },
      'split: the new part ' + code + ' has ' + m2(areaM2(part)) + ': checking');
      state.suggested = null;
    } else if (purpose === 'grid') {
      var taken = (state.gridDraft || []).reduce(function (acc, g) { return acc.concat(g); }, []);
      var cell = intersect([geometry.coordinates], own);
      if (taken.length && cell.length) cell = subtract(cell, taken);
      if (!cell.length) { status('the grid must lie in the community (and not on a grid drawn already)', 'bad'); return; }
      state.gridDraft = (state.gridDraft || []).concat([cell]);
      showTool('grids');
      status(state.gridDraft.length + ' grid' + (state.gridDraft.length === 1 ? '' : 's') + ' drawn; draw another or use them', 'ok');
    }
  }

  function gridOp(cells) {
    var p = state.family.unit.properties;
    var officer = (($('jl-grid-officer') || {}).value || '').trim();
    var taken = (state.gridCodes || []).slice();
    var grids = cells.map(function (cell, i) {
      var number = String(i + 1).padStart(2, '0');
      var code = nextCode(taken, p.code, 3);
      taken.push(code);
      var grid = { code: code, name: p.name + '第' + number + '网格', geometry: multi(cell) };
      if (officer) grid.officer = officer;
      return grid;
    });
    return { op: state.family.children.length ? 'regrid' : 'lay_grids', community: p.code, grids: grids };
  }

  function stripCells(count) {
    var own = polygonsOf(state.family.unit.geometry), box = bboxOf(state.family.unit.geometry);
    var width = (box[2] - box[0]) / count, cells = [];
    for (var i = 0; i < count; i++) {
      var west = box[0] + i * width, east = i === count - 1 ? box[2] + 1e-6 : west + width;
      if (i === 0) west -= 1e-6;
      var cell = intersect(own, [[[[west, box[1] - 1e-6], [east, box[1] - 1e-6], [east, box[3] + 1e-6], [west, box[3] + 1e-6], [west, box[1] - 1e-6]]]]);
      if (cell.length) cells.push(cell);
    }
    return cells;
  }

  /* Workstations serving the communities of the street (the unit, or the community's street). */
  function workstationForm() {
    var p = state.family.unit.properties;
    var street = p.level === 'community' ? p.parent : p.level === 'street' ? p.code : null;
    if (!street) { $('jl-tool-form').innerHTML = '<p class="jl-hint">Workstations serve communities: open a street or a community.</p>'; return; }
    var when = '&date=' + state.day;
    Promise.all([
      getJSON('/v1/units?geometry=false&limit=1000&parent=' + encodeURIComponent(street) + when),
      getJSON('/v1/offices?kind=workstation&limit=10000' + when),
    ]).then(function (parts) {
      if (state.tool !== 'workstation') return;
      var communities = parts[0].features.map(function (f) { return f.properties; });
      var codes = communities.map(function (c) { return c.code; });
      var stations = parts[1].offices.filter(function (o) {
        return o.unit === street || (o.serves || []).some(function (c) { return codes.indexOf(c) >= 0; });
      });
      state.stations = stations;
      state.streetCommunities = communities;
      var boxes = function (prefix, served) {
        return communities.map(function (c) {
          return '<label class="jl-check-line"><input type="checkbox" class="' + prefix + '" value="' + esc(c.code) + '"' +
            (served.indexOf(c.code) >= 0 ? ' checked' : '') + '> ' + esc(c.name) + ' <code>' + esc(c.code) + '</code></label>';
        }).join('');
      };
      var stationOptions = function (except) {
        return stations.filter(function (s) { return s.code !== except; }).map(function (s) {
          return '<option value="' + esc(s.code) + '">' + esc(s.name + ' ' + s.code) + '</option>';
        }).join('');
      };
      var html = '<label class="jl-field">Workstation <select id="jl-ws-pick">' + stations.map(function (s) {
        return '<option value="' + esc(s.code) + '">' + esc(s.name + ' ' + s.code) + ' · serves ' + (s.serves || []).length + '</option>';
      }).join('') + '<option value="">a new workstation…</option></select></label><div id="jl-ws-detail"></div>';
      $('jl-tool-form').innerHTML = html;
      var detail = function () {
        var code = $('jl-ws-pick').value;
        var station = stations.filter(function (s) { return s.code === code; })[0];
        if (!station) {
          $('jl-ws-detail').innerHTML = '<label class="jl-field">Code <input id="jl-ws-code" value="' + esc(street + '-ws-new') + '"></label>' +
            '<label class="jl-field">Name <input id="jl-ws-name" placeholder="…社区工作站"></label><div class="jl-checks">' + boxes('jl-ws-new-serves', []) +
            '</div><button type="button" id="jl-ws-open">Open it</button>';
          return;
        }
        $('jl-ws-detail').innerHTML = '<p class="jl-hint">Tick the communities it should take over.</p><div class="jl-checks">' +
          boxes('jl-ws-serves', station.serves || []) + '</div><button type="button" id="jl-ws-assign">Take over the ticked</button>' +
          '<label class="jl-field">Close it, its communities going to <select id="jl-ws-successor">' + stationOptions(code) + '</select></label>' +
          '<button type="button" id="jl-ws-close">Close it</button>';
      };
      $('jl-ws-pick').addEventListener('change', detail);
      detail();
    }).catch(function (err) { $('jl-tool-form').innerHTML = '<p class="jl-warning">' + esc(err.message) + '</p>'; });
  }

  /* Offices of the unit (not its workstations: they change with assign_coverage) and the
   * children each serves; ticking children on the map or in the list makes a
   * change_service_area. */
  function officesForm() {
    var p = state.family.unit.properties;
    getJSON('/v1/offices?limit=10000&date=' + state.day).then(function (page) {
      if (state.tool !== 'offices') return;
      var offices = page.offices.filter(function (o) { return o.unit === p.code && o.kind !== 'workstation'; });
      if (!offices.length || !state.family.children.length) {
        $('jl-tool-form').innerHTML = '<p class="jl-hint">' + (offices.length ? esc(p.code) + ' has no children to serve.'
          : 'No office belongs to ' + esc(p.name) + ' on ' + esc(state.day) + ': open its parent or a street.') + '</p>';
        return;
      }
      $('jl-tool-form').innerHTML = '<label class="jl-field">Office <select id="jl-sa-pick">' + offices.map(function (o) {
        return '<option value="' + esc(o.code) + '">' + esc(o.name + ' ' + o.code) + '</option>';
      }).join('') + '</select></label><div id="jl-sa-detail"><p class="jl-hint">Loading its service area…</p></div>';
      pickOffice(offices[0].code);
    }).catch(function (err) { $('jl-tool-form').innerHTML = '<p class="jl-warning">' + esc(err.message) + '</p>'; });
  }

  function pickOffice(code) {
    state.office = null;
    layers.service.clearLayers();
    getJSON('/v1/offices/' + encodeURIComponent(code) + '?date=' + state.day).then(function (office) {
      if (state.tool !== 'offices' || $('jl-sa-pick').value !== code) return;
      var area = office.service_area || {};
      var served = (area.units || []).map(function (u) { return u.code; });
      var whole = !(office.serves || []).length;
      state.office = { code: code, serves: office.serves || [], geometry: area.geometry };
      $('jl-sa-detail').innerHTML = '<p class="jl-hint">Serves ' + (whole ? 'its whole unit' : esc(served.length) + ' unit(s)') +
        (area.area_m2 ? ', ' + esc(m2(area.area_m2)) : '') + ' (dashed). Tick the units it should serve, here or by clicking them on the map; ' +
        'all ticked means its whole unit.</p><div class="jl-checks">' + state.family.children.map(function (c) {
        var cp = c.properties;
        return '<label class="jl-check-line"><input type="checkbox" class="jl-sa-serves" value="' + esc(cp.code) + '"' +
          (whole || served.indexOf(cp.code) >= 0 ? ' checked' : '') + '> ' + esc(cp.name) + ' <code>' + esc(cp.code) + '</code></label>';
      }).join('') + '</div><button type="button" id="jl-sa-add">Change the service area</button>';
      drawServed();
      setAttr('data-jl-office', code);
    }).catch(function (err) { $('jl-sa-detail').innerHTML = '<p class="jl-warning">' + esc(err.message) + '</p>'; });
  }

  function toggleServed(code) {
    var box = document.querySelector('input.jl-sa-serves[value="' + code + '"]');
    if (!box) return;
    box.checked = !box.checked;
    drawServed();
  }

  /* The service area as it is (dashed) and the ticked units (filled). */
  function drawServed() {
    layers.service.clearLayers();
    if (!state.office) return;
    var chosen = ticked('jl-sa-serves');
    state.family.children.forEach(function (c) {
      if (c.geometry && chosen.indexOf(c.properties.code) >= 0) {
        L.geoJSON(c.geometry, { style: STYLE.served, pmIgnore: true, snapIgnore: true, interactive: false }).addTo(layers.service);
      }
    });
    if (state.office.geometry) {
      L.geoJSON(state.office.geometry, { style: STYLE.area, pmIgnore: true, snapIgnore: true, interactive: false }).addTo(layers.service);
    }
  }

  function addServiceArea() {
    if (!state.office) return;
    var chosen = ticked('jl-sa-serves');
    if (!chosen.length) { status('tick at least one unit it serves', 'bad'); return; }
    var serves = chosen.length === state.family.children.length ? [] : chosen;
    if (serves.slice().sort().join() === state.office.serves.slice().sort().join()) { status('that is its service area already', 'bad'); return; }
    addOp({ op: 'change_service_area', code: state.office.code, serves: serves },
      state.office.code + ' serves ' + (serves.length ? serves.length + ' unit(s)' : 'its whole unit') + ': checking');
  }

  function ticked(cls) {
    return Array.prototype.filter.call(document.querySelectorAll('input.' + cls), function (i) { return i.checked; })
      .map(function (i) { return i.value; });
  }

  function onToolClick(event) {
    var t = event.target;
    if (!t || !t.id) return;
    var unit = state.family && state.family.unit.properties;
    switch (t.id) {
      case 'jl-move-draw':
        state.target = $('jl-move-target').value;
        drawFamily(false);
        draw('Polygon', 'move');
        break;
      case 'jl-split-draw': draw('Line', 'split'); break;
      case 'jl-edge-start': startEdge(); break;
      case 'jl-edge-done': finishEdge(); break;
      case 'jl-edge-cancel': stopEdge(); showTool('edge'); status('edge left as it was'); break;
      case 'jl-merge-add':
        var other = $('jl-merge-target').value;
        if (!other) break;
        if ($('jl-merge-mode').value !== 'new') {
          addOp({ op: 'merge', units: [unit.code, other], absorb_into: unit.code }, other + ' merges into ' + unit.code + ': checking');
          break;
        }
        var intoCode = $('jl-merge-code').value.trim(), intoName = $('jl-merge-name').value.trim();
        if (!intoCode || !intoName) { status('give the code and the name of the new unit', 'bad'); break; }
        addOp({ op: 'merge', units: [unit.code, other], into: { code: intoCode, name: intoName } },
          unit.code + ' and ' + other + ' merge into ' + intoCode + ': checking');
        break;
      case 'jl-sa-add': addServiceArea(); break;
      case 'jl-rename-add':
        var name = $('jl-rename-name').value.trim();
        var en = $('jl-rename-en').value.trim();
        if (!name) { status('give the new name', 'bad'); break; }
        var op = { op: 'rename', unit: unit.code, name: name };
        if (en && en !== unit.name_en) op.name_en = en;
        addOp(op, unit.code + ' renamed ' + name + ': checking');
        break;
      case 'jl-grid-strips':
        var count = Math.max(1, Math.min(60, parseInt($('jl-grid-count').value, 10) || 1));
        addOp(gridOp(stripCells(count)), count + ' grids laid out in strips: checking');
        break;
      case 'jl-grid-draw': draw('Polygon', 'grid'); break;
      case 'jl-grid-done':
        if (state.gridDraft && state.gridDraft.length) {
          addOp(gridOp(state.gridDraft), state.gridDraft.length + ' drawn grids: checking');
          state.gridDraft = [];
          showTool('grids');
        }
        break;
      case 'jl-ws-open':
        var serves = ticked('jl-ws-new-serves');
        if (!serves.length) { status('tick the communities it serves', 'bad'); break; }
        addOp({ op: 'open_workstation', code: $('jl-ws-code').value.trim(), name: $('jl-ws-name').value.trim() || $('jl-ws-code').value.trim(), serves: serves },
          'workstation opened: checking');
        break;
      case 'jl-ws-assign':
        var code = $('jl-ws-pick').value;
        var station = state.stations.filter(function (s) { return s.code === code; })[0];
        var gained = ticked('jl-ws-serves').filter(function (c) { return (station.serves || []).indexOf(c) < 0; });
        if (!gained.length) { status('tick a community it does not serve yet', 'bad'); break; }
        addOp({ op: 'assign_coverage', workstation: code, communities: gained }, code + ' takes over ' + gained.join(', ') + ': checking');
        break;
      case 'jl-ws-close':
        var successor = $('jl-ws-successor').value;
        if (!successor) { status('choose the workstation that takes over', 'bad'); break; }
        addOp({ op: 'close_workstation', code: $('jl-ws-pick').value, successor: successor }, 'workstation closed: checking');
        break;
      default:
    }
  }

  /* ---- the token ------------------------------------------------------------------------ */

  function tokenState(ok, note) {
    var el = $('jl-token-state');
    el.textContent = note || (ok ? 'token kept for this tab' : '');
    el.className = 'jl-token-state' + (ok ? ' jl-ok' : ' jl-bad');
  }

  /* ---- wiring --------------------------------------------------------------------------- */

  function search(text) {
    text = text.trim();
    if (!text) return Promise.resolve(null);
    if (/^[0-9A-Za-z-]+$/.test(text) && /\d/.test(text)) return Promise.resolve(text);
    return getJSON('/v1/units?geometry=false&limit=20&date=' + $('jl-date').value + '&q=' + encodeURIComponent(text)).then(function (page) {
      var list = $('jl-q-list');
      list.innerHTML = page.features.map(function (f) {
        return '<option value="' + esc(f.properties.code) + '">' + esc(f.properties.name + ' · ' + f.properties.level) + '</option>';
      }).join('');
      if (!page.features.length) throw new Error('no unit is called ' + text + ' on ' + $('jl-date').value);
      return page.features[0].properties.code;
    });
  }

  function onKey(event) {
    var typing = /^(INPUT|TEXTAREA|SELECT)$/.test((event.target || {}).tagName || '');
    var key = (event.key || '').toLowerCase();
    if ((event.ctrlKey || event.metaKey) && (key === 'z' || key === 'y')) {
      if (typing) return;
      event.preventDefault();
      if (map.pm.globalDrawModeEnabled()) {
        if (!event.shiftKey && key === 'z') {
          var handler = map.pm.Draw[map.pm.Draw.getActiveShape()];
          if (handler && handler._removeLastVertex) handler._removeLastVertex();
        }
        return;
      }
      if (event.shiftKey || key === 'y') redo(); else undo();
    } else if (!typing && !event.ctrlKey && !event.metaKey && !event.altKey && state.family &&
               !map.pm.globalDrawModeEnabled() && TOOL_KEYS[key]) {
      showTool(TOOL_KEYS[key]);
    } else if (key === 'enter' && map.pm.globalDrawModeEnabled() && !typing) {
      event.preventDefault();
      var shape = map.pm.Draw[map.pm.Draw.getActiveShape()];
      if (shape && shape._finishShape) shape._finishShape();
    } else if (key === 'escape' && map.pm.globalDrawModeEnabled()) {
      stopDrawing();
      state.drawing = null;
      setAttr('data-jl-drawing', '');
      status('drawing cancelled');
    }
  }

  JL.editPage = function () {
    var cfg = config();
    map = L.map('jl-map', { zoomControl: false, preferCanvas: false, minZoom: 3, maxZoom: 19 });
    JL.map = map;
    L.control.zoom({ position: 'bottomleft' }).addTo(map);
    L.control.scale({ position: 'bottomleft' }).addTo(map);
    if (cfg.tileUrl) L.tileLayer(cfg.tileUrl, { maxZoom: 19 }).addTo(map);
    map.fitBounds([[22.4, 113.75], [22.86, 114.62]], VIEW);
    map.pm.setGlobalOptions({ snappable: true, snapDistance: 18 });
    var onEach = function (role) {
      return function (feature, layer) {
        layer.bindTooltip(esc(feature.properties.name) + ' <code>' + esc(feature.properties.code) + '</code>' + (role ? ' · ' + role : ''), { sticky: true });
        layer.on('click', function () {
          if (map.pm.globalDrawModeEnabled() || state.edgeLayer) return;
          if (role === 'child' && state.tool === 'offices' && state.office) {
            toggleServed(feature.properties.code);
            return;
          }
          if (role === 'neighbour' && (state.tool === 'move' || state.tool === 'merge')) {
            state.target = feature.properties.code;
            drawFamily(false);
            showTool(state.tool);
            return;
          }
          if (role) openUnit(feature.properties.code);
        });
      };
    };
    layers.parent = L.geoJSON(null, { style: STYLE.parent, interactive: false }).addTo(map);
    layers.neighbours = L.geoJSON(null, { style: familyStyle('neighbour'), onEachFeature: onEach('neighbour') }).addTo(map);
    layers.unit = L.geoJSON(null, { style: STYLE.unit, onEachFeature: onEach('') }).addTo(map);
    layers.children = L.geoJSON(null, { style: STYLE.child, onEachFeature: onEach('child') }).addTo(map);
    layers.pending = L.layerGroup().addTo(map);
    layers.preview = L.layerGroup().addTo(map);
    layers.problems = L.layerGroup().addTo(map);
    layers.service = L.layerGroup().addTo(map);
    JL.layers = layers;
    map.on('pm:create', created);

    if (token()) tokenState(true);
    $('jl-token-form').addEventListener('submit', function (event) {
      event.preventDefault();
      var value = $('jl-token').value.trim();
      if (value) sessionStorage.setItem(TOKEN_KEY, value); else sessionStorage.removeItem(TOKEN_KEY);
      $('jl-token').value = '';
      tokenState(Boolean(value), value ? 'token kept for this tab' : 'token forgotten');
      scheduleCheck();
    });
    $('jl-pick').addEventListener('submit', function (event) {
      event.preventDefault();
      search($('jl-q').value).then(function (code) {
        var chosen = code || (state.family && state.family.unit.properties.code);
        if (chosen) return openUnit(chosen, $('jl-date').value);
        return null;
      }).catch(function (err) { status(err.message, 'bad'); });
    });
    $('jl-tools').addEventListener('click', function (event) {
      var tool = event.target.getAttribute && event.target.getAttribute('data-tool');
      if (tool && state.family) showTool(tool);
    });
    $('jl-tool-form').addEventListener('click', onToolClick);
    $('jl-tool-form').addEventListener('change', function (event) {
      if (event.target.id === 'jl-move-target' || event.target.id === 'jl-merge-target') {
        state.target = event.target.value;
        drawFamily(false);
      }
      if (event.target.id === 'jl-merge-mode') $('jl-merge-new').hidden = event.target.value !== 'new';
      if (event.target.id === 'jl-sa-pick') pickOffice(event.target.value);
      if (event.target.classList && event.target.classList.contains('jl-sa-serves')) drawServed();
    });
    $('jl-family').addEventListener('click', function (event) {
      var link = event.target.closest && event.target.closest('.jl-open');
      if (!link) return;
      event.preventDefault();
      openUnit(link.getAttribute('data-code'));
    });
    $('jl-ops').addEventListener('click', function (event) {
      var index = event.target.getAttribute('data-index');
      if (event.target.classList.contains('jl-remove')) { removeOp(Number(index)); return; }
      var item = event.target.closest && event.target.closest('.jl-op');
      if (!item) return;
      var op = state.ops[Number(item.getAttribute('data-index'))];
      var shapes = opGeometries(op);
      if (shapes.length) map.fitBounds(L.geoJSON({ type: 'GeometryCollection', geometries: shapes }).getBounds(), VIEW);
    });
    $('jl-problems').addEventListener('click', function (event) {
      var apply = event.target.closest && event.target.closest('.jl-apply');
      if (apply) { applyRepair(apply.getAttribute('data-repair'), Number(apply.getAttribute('data-sliver'))); return; }
      var item = event.target.closest && event.target.closest('.jl-problem');
      if (item) focusProblem(Number(item.getAttribute('data-index')));
    });
    $('jl-repairs').addEventListener('click', function (event) {
      var name = event.target.getAttribute('data-repair');
      if (!name) return;
      state.repair = state.repair.filter(function (r) { return r !== name; });
      if (name === 'snap_to_neighbours') state.sliver = 0;
      scheduleCheck();
    });
    $('jl-result').addEventListener('click', function (event) {
      if (event.target.id !== 'jl-reload' || !state.family) return;
      openUnit(state.family.unit.properties.code, state.day).then(scheduleCheck);
      $('jl-result').textContent = 'reloaded: your edits are checked against the map as it is now';
    });
    $('jl-undo').addEventListener('click', undo);
    $('jl-redo').addEventListener('click', redo);
    $('jl-submit').addEventListener('click', submit);
    ['jl-effective', 'jl-reason', 'jl-document'].forEach(function (id) { $(id).addEventListener('change', scheduleCheck); });
    document.addEventListener('keydown', onKey);
    renderOps();
    if (cfg.code) {
      openUnit(cfg.code, cfg.day).catch(function () {});
    } else {
      status('pick a date and a unit');
      setAttr('data-jl-ready', 'true');
      JL.readyAt = performance.now();
    }
  };
})();
